"""The classes of definition that benchmarks/public_definitions.py found refused or
crashing in public example collections, each reproduced by a definition of our own (none
is copied from those collections), and the script itself over a small collection."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from sfnstack.asl import StateMachine
from sfnstack.template import parse_definition_text

SCRIPT = Path(__file__).parents[3] / "benchmarks" / "public_definitions.py"

YES_NO_YAML = """\
StartAt: Ask
States:
  Ask:
    Type: Choice
    Choices:
      - Variable: $.answer
        BooleanEquals: true
        Next: Yes
    Default: No
  Yes:
    Type: Succeed
  No:
    Type: Fail
    Error: Declined
"""


def test_yaml_definition_keeps_yes_and_no_as_state_names() -> None:
    # YAML 1.1 reads an unquoted Yes/No as a boolean; ASL written in YAML (Workflow
    # Studio, the Serverless Framework) means the state names.
    definition = parse_definition_text(YES_NO_YAML, "choice.asl.yaml")
    assert definition["States"]["Ask"]["Choices"][0]["Next"] == "Yes"
    assert definition["States"]["Ask"]["Choices"][0]["BooleanEquals"] is True
    machine = StateMachine(definition)
    assert machine.execute({"answer": True}).status == "SUCCEEDED"
    assert machine.execute({"answer": False}).error == "Declined"


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("public_definitions", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("public_definitions", module)  # dataclasses look it up
    spec.loader.exec_module(module)
    return module


def test_public_definitions_script_counts_a_collection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    collection = tmp_path / "collection"
    (collection / "a" / "statemachine").mkdir(parents=True)
    # A SAM DefinitionUri file: a ${...} placeholder as the whole Task Resource and one
    # standing for a number.
    (collection / "a" / "statemachine" / "flow.asl.json").write_text(
        json.dumps(
            {
                "StartAt": "Call",
                "States": {
                    "Call": {"Type": "Task", "Resource": "${WorkerArn}", "Next": "Wait"},
                    "Wait": {"Type": "Wait", "Seconds": "@@", "End": True},
                },
            }
        ).replace('"@@"', "${DelaySeconds}")
    )
    (collection / "a" / "statemachine" / "choice.asl.yaml").write_text(YES_NO_YAML)
    # A template whose inline Definition holds intrinsic functions.
    (collection / "b").mkdir()
    (collection / "b" / "template.yaml").write_text(
        """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Flow:
    Type: AWS::Serverless::StateMachine
    Properties:
      Definition:
        StartAt: Put
        States:
          Put:
            Type: Task
            Resource: !Sub arn:${AWS::Partition}:states:::sqs:sendMessage
            Parameters:
              QueueUrl: !Ref Queue
              MessageBody.$: $
            Next: Invoke
          Invoke:
            Type: Task
            Resource: !GetAtt Worker.Arn
            End: true
"""
    )
    # Refused: a JSONPath filter comparing with an unquoted word (Jayway refuses it too).
    (collection / "c.json").write_text(
        json.dumps(
            {
                "StartAt": "P",
                "States": {"P": {"Type": "Pass", "InputPath": "$[?(@.a==word)]", "End": True}},
            }
        )
    )
    (collection / "events.json").write_text('{"not": "a definition"}')
    # The Serverless Framework's serverless.yml, and a README's fenced definition.
    (collection / "serverless.yml").write_text(
        """\
service: demo
stepFunctions:
  stateMachines:
    hello:
      definition:
        StartAt: Wait
        States:
          Wait: {Type: Wait, Seconds: 1, End: true}
"""
    )
    (collection / "README.md").write_text(
        "A Pass state:\n\n```json\n"
        + json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
        + '\n```\n\nA fragment: `"StartAt"` alone is not a definition.\n'
    )
    assert _script().main([str(collection)]) == 0
    out = capsys.readouterr().out
    assert "checked 6 distinct definitions: valid 5, refused 1, crashed 0" in out
    assert "c.json" in out and "Invalid JSONPath" in out
