"""A definition of the wrong shape is a DefinitionError naming the state and field, never a
TypeError or AttributeError from deep inside the parser."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sfnstack.asl import DefinitionError, StateMachine

CASES = Path(__file__).parents[2] / "conformance" / "data"
FN = "arn:aws:lambda:us-east-1:000000000000:function:f"


def one_state(**fields: Any) -> dict[str, Any]:
    return {"StartAt": "S", "States": {"S": fields, "Done": {"Type": "Succeed"}}}


@pytest.mark.parametrize(
    ("definition", "field"),
    [
        (one_state(Type=["Pass"], End=True), "Type"),
        (one_state(Type=7, End=True), "Type"),
        (one_state(Type={"Pass": True}, End=True), "Type"),
        (one_state(Type="Pass", Next={"State": "Done"}), "Next"),
        (one_state(Type="Task", Resource=FN, End=True, Retry=[3]), "Retry"),
        (one_state(Type="Task", Resource=FN, End=True, Retry=["States.ALL"]), "Retry"),
        (one_state(Type="Task", Resource=FN, End=True, Catch=[1.5]), "Catch"),
        (one_state(Type="Task", Resource=FN, End=True, Catch=[None]), "Catch"),
        (
            one_state(
                Type="Task",
                Resource=FN,
                End=True,
                Catch=[{"ErrorEquals": ["States.ALL"], "Next": {"to": "Done"}}],
            ),
            "Catch",
        ),
        (
            one_state(
                Type="Choice",
                Choices=[{"Variable": "$.a", "IsPresent": True, "Next": "Done"}],
                Default=["Done"],
            ),
            "Default",
        ),
    ],
)
def test_shape_errors_name_the_state_and_field(definition: dict[str, Any], field: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        StateMachine(definition)
    assert caught.value.state == "S"
    assert caught.value.field == field


def _recorded_definitions() -> list[dict[str, Any]]:
    return [
        json.loads(line)["definition"]
        for path in sorted(CASES.rglob("cases.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


# Values of every JSON type, and ASL-looking strings, to put where another shape belongs.
_WRONG_SHAPES: list[Any] = [
    None, True, 0, -1, 1.5, 10**20, "x", "$", "$.a", "$.a[", "$$", "{% $x %}",
    "States.Format('{}', $.a)", [], [1], ["x", 1], [None], [[]], [{}], {}, {"a": 1},
    {"Type": "Pass"}, {"Next": {}}, {"ErrorEquals": "x"}, {"StartAt": "x", "States": {}},
]  # fmt: skip


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, (dict, list)):
        for key, child in value.items() if isinstance(value, dict) else enumerate(value):
            yield from _paths(child, (*path, key))


def test_mutated_recorded_definitions_never_end_in_a_traceback() -> None:
    """A small, seeded fuzz: replace one to three values of a recorded (valid) definition
    with values of other shapes; the parser accepts the result or raises DefinitionError."""
    definitions = _recorded_definitions()
    assert len(definitions) > 500
    rng = random.Random(16)
    crashes: dict[str, str] = {}
    for _ in range(3000):
        definition = copy.deepcopy(rng.choice(definitions))
        paths = [p for p in _paths(definition) if p]
        for _ in range(rng.randint(1, 3)):
            path = rng.choice(paths)
            parent: Any = definition
            try:
                for key in path[:-1]:
                    parent = parent[key]
                parent[path[-1]] = copy.deepcopy(rng.choice(_WRONG_SHAPES))
            except (KeyError, IndexError, TypeError):  # an earlier mutation moved it
                pass
        try:
            StateMachine(definition)
        except DefinitionError:
            pass
        except Exception as exc:  # any other exception is the failure
            crashes.setdefault(f"{type(exc).__name__}: {exc}", json.dumps(definition)[:300])
    assert not crashes, crashes
