"""Raincast's local AWS Step Functions + Lambda runtime: runs the real ``statemachine/``
definition and the real handlers from ``template.yaml`` on one machine, without Docker."""
