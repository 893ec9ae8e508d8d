"""API Gateway mapping templates (Velocity) as the start API renders them: the Step
Functions integration idiom with hostile bodies, directives, Java String methods, and
API Gateway's $input, $util and $context."""

from __future__ import annotations

import base64
import json

import pytest
from sfnstack.serve.apigateway import StartApi, render_mapping_template
from sfnstack.serve.template_triggers import ApiRoute
from sfnstack.template import TemplateError

# The request template API Gateway's docs (and SAM apps) use to start an execution with the
# request body as its input: escapeJavaScript, then undo its \' (not valid JSON).
START_EXECUTION = (
    '{"stateMachineArn": "arn:sm",\n'
    '"input": "{\\"trigger\\": \\"api\\", \\"request\\": '
    '$util.escapeJavaScript($input.json(\'$\')).replaceAll("\\\\\'", "\'")}"}'
)
CONTEXT = {"requestId": "req-1", "identity": {"sourceIp": "10.0.0.1"}, "stage": "v1"}
HOSTILE = {
    "cities": ["O'Hare", "Zürich", 'say "hi"\n\ttab', "😀", "back\\slash", "</script>", "\u2028"],
    "run_id": "r-1",
    "nested": {"deep": [1, 2.5, True, None]},
}


def render(template: str, body: object = HOSTILE) -> str:
    return render_mapping_template(template, json.dumps(body), CONTEXT)


def test_the_start_execution_idiom_carries_any_body_exactly() -> None:
    request = json.loads(render(START_EXECUTION))
    assert request["stateMachineArn"] == "arn:sm"
    assert json.loads(request["input"]) == {"trigger": "api", "request": HOSTILE}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("$input.path('$.cities').size()", "7"),
        ("$input.path('$.cities[0]')", "O'Hare"),
        ("$input.json('$.nested.deep')", "[1,2.5,true,null]"),
        ("#set($body = $input.path('$'))#if($body.run_id)id=$body.run_id#{else}none#end", "id=r-1"),
        ("#if($input.path('$.missing'))yes#{else}no#end", "no"),  # null is false
        ("#if($input.path('$.missing'))a#elseif($input.path('$.run_id'))b#end", "b"),
        (
            "#foreach($n in $input.path('$.nested.deep'))$foreach.count#if($foreach.hasNext),#end#end",
            "1,2,3,4",
        ),
        ("$input.path('$.run_id').replaceAll('(r)-(1)', '$2$1')", "1r"),  # Java group references
        ("$input.path('$.run_id').replaceAll('\\d', 'N')", "r-N"),
        ('#set($s = "a\\\\b")$s.length()', "4"),  # Velocity keeps backslashes in literals
        ('$util.escapeJavaScript("it\'s/é")', "it\\'s\\/\\u00E9"),
        ("$util.base64Encode('hi')", base64.b64encode(b"hi").decode()),
        ("$util.base64Decode('aGk=')", "hi"),
        ("$util.urlEncode('a b&c')", "a%20b%26c"),
        ("$util.parseJson('[1,2]').size()", "2"),
        ("$context.requestId $context.identity.sourceIp $context.stage", "req-1 10.0.0.1 v1"),
        ("[$!context.nothing]", "[]"),
    ],
)
def test_velocity_over_api_gateway_variables(template: str, expected: str) -> None:
    assert render(template) == expected


def test_a_body_that_is_not_json_fails_the_request_not_the_server() -> None:
    api = StartApi(
        [ApiRoute(method="POST", path="/runs", stage="v1", iam_auth=False, validate_body=False,
                  body_schema=None, request_template=START_EXECUTION, api_id="api")],
        lambda request, source: {"executionArn": "arn:x", "startDate": 0},
        "123456789012",
    )  # fmt: skip
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/runs", "CONTENT_LENGTH": "3"}
    status: list[str] = []
    import io

    environ["wsgi.input"] = io.BytesIO(b"{x]")
    payload = json.loads(b"".join(api(environ, lambda s, h: status.append(s))))
    assert status[0].startswith("500") and "not JSON" in payload["message"]


def test_a_template_that_does_not_parse_is_refused_at_start() -> None:
    with pytest.raises(TemplateError, match="mapping template"):
        StartApi(
            [ApiRoute(method="POST", path="/runs", stage="v1", iam_auth=False, validate_body=False,
                      body_schema=None, request_template="#if($x", api_id="api")],
            lambda request, source: {},
            "123456789012",
        )  # fmt: skip
