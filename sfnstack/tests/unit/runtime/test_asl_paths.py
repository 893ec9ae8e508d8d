"""JSONPath evaluator, intrinsic functions and payload templates."""

from __future__ import annotations

from typing import Any

import pytest
from sfnstack.asl import DefinitionError, StateMachine
from sfnstack.asl.errors import PathNotFound
from sfnstack.asl.jsonpath import PathSyntaxError, compile_path

STORE = {
    "book": [
        {"title": "A", "price": 8, "isbn": "1"},
        {"title": "B", "price": 12},
        {"title": "C", "price": 22, "isbn": "3"},
    ],
    "bicycle": {"color": "red", "price": 19},
    "odd key": {"x.y": 1},
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", STORE),
        ("$.book[0].title", "A"),
        ("$.book[-1].title", "C"),
        ("$['bicycle']['color']", "red"),
        ("$['odd key']['x.y']", 1),
        ("$.book.length()", 3),
        ("$.book[*].title", ["A", "B", "C"]),
        ("$.book[0:2].price", [8, 12]),
        ("$.book[-2:].title", ["B", "C"]),
        ("$.book[0,2].title", ["A", "C"]),
        ("$..price", [8, 12, 22, 19]),
        ("$.book[?(@.price < 10)].title", ["A"]),
        ("$.book[?(@.isbn)].title", ["A", "C"]),
        ("$.book[?(@.price > 10 && @.title != 'C')].title", ["B"]),
        ("$.book[?(@.title == 'A' || @.price >= 22)].title", ["A", "C"]),
        ("$.book[?(@.title =~ /[AB]/)].title", ["A", "B"]),
        ("$.nothing[*]", []),
    ],
)
def test_jsonpath_matches_jayway(path: str, expected: Any) -> None:
    assert compile_path(path).get(STORE) == expected


@pytest.mark.parametrize(
    ("path", "data", "expected"),
    [
        # A dot before a bracket: Jayway reads any token after a dot (AWS's guide shows
        # `$.abc.['def ghi']`).
        ("$.[0].body", [{"body": "b"}], "b"),
        ("$.book.[0].title", STORE, "A"),
        ("$.[*]", [1, 2], [1, 2]),
        ("$.book.[*].price", STORE, [8, 12, 22]),
        ("$.abc.['def ghi']", {"abc": {"def ghi": 7}}, 7),
        ("$.['odd key'].['x.y']", STORE, 1),
        # Multi-property selection as the last step: one merged object per value
        # (Jayway's MultiPropTest; absent properties are left out).
        ("$['bicycle', 'odd key']", STORE, {"bicycle": STORE["bicycle"], "odd key": {"x.y": 1}}),
        ("$['bicycle', 'missing']", STORE, {"bicycle": STORE["bicycle"]}),
        (
            "$.book[*]['title','isbn']",
            STORE,
            [{"title": "A", "isbn": "1"}, {"title": "B"}, {"title": "C", "isbn": "3"}],
        ),
        ("$.book[0]['title', 'price']", STORE, {"title": "A", "price": 8}),
        # ... and before another step, each property in turn
        ("$['a', 'c'].v", {"a": {"v": 5}, "b": {"v": 4}, "c": {"v": 1}}, [5, 1]),
        # Escapes in quoted names, unescaped as Jayway's Utils.unescape does
        ("$['it\\'s']", {"it's": 1}, 1),
        ('$["say \\"hi\\""]', {'say "hi"': 2}, 2),
        ("$['line\\nbreak']", {"line\nbreak": 3}, 3),
        ("$['tab\\there']", {"tab\there": 4}, 4),
        ("$['caf\\u00e9']", {"caf\u00e9": 5}, 5),
        ("$['back\\\\slash']", {"back\\slash": 6}, 6),
    ],
)
def test_jayway_shapes_aws_accepts(path: str, data: Any, expected: Any) -> None:
    assert compile_path(path).get(data) == expected


def test_dot_bracket_paths_in_a_state_machine() -> None:
    sm = StateMachine(
        {
            "StartAt": "P",
            "States": {
                "P": {
                    "Type": "Pass",
                    "Parameters": {"first.$": "$.items.[0].body", "both.$": "$.items[*]['a','b']"},
                    "End": True,
                }
            },
        }
    )
    result = sm.execute({"items": [{"body": "x", "a": 1, "b": 2, "c": 3}, {"a": 4}]})
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"first": "x", "both": [{"a": 1, "b": 2}, {"a": 4}]}


def test_definite_path_errors_use_jayway_messages() -> None:
    with pytest.raises(PathNotFound) as leaf:
        compile_path("$.missing").get(STORE)
    assert leaf.value.detail == "Invalid path '$.missing' : No results for path: $['missing']"
    with pytest.raises(PathNotFound) as inner:
        compile_path("$.missing.deeper").get(STORE)
    assert "Missing property in path $['missing']" in inner.value.detail


def test_invalid_path_syntax() -> None:
    with pytest.raises(PathSyntaxError):
        compile_path("$.a[")
    with pytest.raises(PathSyntaxError):
        compile_path("a.b")


def _eval(expression: str, data: Any = None) -> Any:
    machine = StateMachine(
        {
            "StartAt": "P",
            "States": {"P": {"Type": "Pass", "Parameters": {"v.$": expression}, "End": True}},
        }
    )
    result = machine.execute(data if data is not None else {})
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    return result.output["v"]


def _fail(expression: str, data: Any = None) -> tuple[str | None, str | None]:
    machine = StateMachine(
        {
            "StartAt": "P",
            "States": {"P": {"Type": "Pass", "Parameters": {"v.$": expression}, "End": True}},
        }
    )
    result = machine.execute(data if data is not None else {})
    assert result.status == "FAILED"
    return result.error, result.cause


def test_format_renders_objects_and_arrays_as_aws_does() -> None:
    """Recorded on AWS (LocalStack's test_generic.py::test_format_2, input 7, and
    test_context_json_path): objects and arrays are rendered Java-style, not as JSON."""
    arg = {"Arg1": 1, "Arg2": []}
    data = {"fst": arg, "snd": arg}
    assert (
        _eval("States.Format('Formatting arguments fst={} and snd={}.', $.fst, $.snd)", data)
        == "Formatting arguments fst={Arg1=1, Arg2=[]} and snd={Arg1=1, Arg2=[]}."
    )
    machine = {"Id": "arn:aws:states:us-east-1:1:stateMachine:M", "Name": "M"}
    assert _eval("States.Format('{}', $.m)", {"m": machine}) == (
        "{Id=arn:aws:states:us-east-1:1:stateMachine:M, Name=M}"
    )
    nested = {"a": ["x", 1, None, True, {"b": "y"}], "c": {}}
    assert _eval("States.Format('{}', $.v)", {"v": nested}) == "{a=[x, 1, null, true, {b=y}], c={}}"
    assert _eval("States.Format('{}', $.v)", {"v": [1, "two", [3]]}) == "[1, two, [3]]"
    # a JSON string stays the text it is
    assert _eval("States.Format('{}', $.s)", {"s": '{"Arg1": 1}'}) == '{"Arg1": 1}'


def test_intrinsics() -> None:
    data = {"a": [1, 2, 2, {"k": 1}, {"k": 1}, True, 1.0], "name": "x", "n": 3}
    assert _eval("States.ArrayUnique($.a)", data) == [1, 2, {"k": 1}, True]
    assert _eval("States.ArrayUnique(States.Array(1, 'a', 'a', null, null))") == [1, "a", None]
    assert _eval("States.Format('hi {} \\{{}\\} \\'q\\'', $.name, $.n)", data) == "hi x {3} 'q'"
    assert _eval("States.ArrayPartition(States.ArrayRange(1, 7, 2), 3)") == [[1, 3, 5], [7]]
    assert _eval("States.ArrayContains($.a, true)", data) is True
    assert _eval("States.ArrayGetItem($.a, 3)", data) == {"k": 1}
    assert _eval("States.ArrayLength($.a)", data) == 7
    assert _eval("States.Base64Decode(States.Base64Encode('Hello'))") == "Hello"
    assert _eval("States.Hash('abc', 'SHA-1')") == "a9993e364706816aba3e25717850c26c9cd0d89d"
    assert _eval(
        "States.JsonMerge(States.StringToJson('{\"a\":1}'), States.StringToJson('{\"b\":2}'), false)"
    ) == {"a": 1, "b": 2}
    assert _eval("States.JsonToString($.a[3])", data) == '{"k":1}'
    assert _eval("States.StringSplit('a,b;;c', ',;')") == ["a", "b", "c"]
    assert _eval("States.MathAdd($.n, -5)", data) == -2
    assert 1 <= _eval("States.MathRandom(1, 10)") < 10
    assert len(_eval("States.UUID()")) == 36


@pytest.mark.parametrize(
    "expression",
    [
        "States.ArrayGetItem(States.Array(1), 5)",
        "States.ArrayRange(1, 5000, 1)",
        "States.ArrayRange(1, 5, 0)",
        "States.StringToJson('{not json')",
        "States.Hash('x', 'SHA-3')",
        "States.JsonMerge(States.StringToJson('{}'), States.StringToJson('{}'), true)",
        "States.Format('{} {}', 'only one')",
        "States.ArrayPartition(States.Array(1), 0)",
        "States.Base64Decode('%%%')",
    ],
)
def test_intrinsic_failures_are_states_intrinsic_failure(expression: str) -> None:
    error, cause = _fail(expression)
    assert error == "States.IntrinsicFailure"
    assert cause


def test_unknown_intrinsic_is_a_definition_error() -> None:
    with pytest.raises(DefinitionError, match=r"States\.Nope"):
        StateMachine(
            {
                "StartAt": "P",
                "States": {
                    "P": {"Type": "Pass", "Parameters": {"v.$": "States.Nope(1)"}, "End": True}
                },
            }
        )


def test_missing_parameter_path_is_states_runtime_naming_the_field() -> None:
    error, cause = _fail("$.nope", {"a": 1})
    assert error == "States.Runtime"
    assert cause == (
        "An error occurred while executing the state 'P' (entered at the event id #2). "
        "The JSONPath '$.nope' specified for the field 'v.$' could not be found in the input '{\"a\":1}'"
    )


def test_states_never_share_mutable_data() -> None:
    machine = StateMachine(
        {
            "StartAt": "A",
            "States": {
                "A": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.r", "Next": "B"},
                "B": {"Type": "Pass", "Result": 2, "ResultPath": "$.r.y", "End": True},
            },
        }
    )
    data = {"keep": {"n": 1}}
    first = machine.execute(data)
    second = machine.execute(data)
    assert first.output == second.output == {"keep": {"n": 1}, "r": {"x": 1, "y": 2}}
    assert data == {"keep": {"n": 1}}
    assert machine.definition["States"]["A"]["Result"] == {"x": 1}
    first.output["r"]["x"] = 99  # the caller owns its output
    assert machine.execute(data).output["r"]["x"] == 1
