"""Raincast: an event-driven batch rain forecaster for AWS Step Functions and Lambda."""

__version__ = "0.1.0"
