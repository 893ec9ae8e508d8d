"""sfnstack: a local AWS Step Functions + Lambda + S3 stack for SAM applications.

It runs a SAM template's state machines (the real ASL definitions with their
``DefinitionSubstitutions``) and its Python functions (the real handlers, in Lambda-like
worker processes) on one machine, without Docker or an AWS account; ``sfnstack serve`` adds
an S3 endpoint, the Step Functions API and the template's triggers."""

__version__ = "0.1.0"
