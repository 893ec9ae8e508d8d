"""The start API: the template's REST API methods that integrate with
``states:StartExecution``, served on localhost the way API Gateway runs them — IAM auth
(a SigV4-signed request is required; the signature is not checked, there is no IAM here),
request-body validation against the method's model, the integration's request mapping
template, and StartExecution's response passed through.

Mapping templates are Velocity (VTL), rendered by airspeed-ext (LocalStack's maintained
fork of airspeed, which LocalStack's own API Gateway runs): the whole language (``#set``,
``#if``, ``#foreach``, Java ``String`` methods) over API Gateway's ``$input``, ``$util``,
``$context`` and ``$stageVariables``, which are defined here. airspeed itself (0.7.1) was
tried and is not sound for API Gateway templates: it unescapes backslashes in string
literals, which Velocity does not, so the ``.replaceAll("\\\\'", "'")`` that every
Step Functions integration uses leaves ``\\'`` in the JSON and StartExecution fails; it
also cannot parse ``'\\d'``. airspeed-ext gets those right; two of its behaviours differ
from Velocity and are corrected below (tests/unit/test_serve_vtl.py pins both): Java's
``$1`` group references in ``replaceAll`` (passed to ``re.sub`` as they are), and a null
in ``#if``/``#elseif`` (true there, false in Velocity).
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

import airspeed
import jsonschema

from sfnstack.serve.eventbridge import jsonpath_get
from sfnstack.serve.executions import SfnError
from sfnstack.serve.template_triggers import ApiRoute
from sfnstack.template import TemplateError

log = logging.getLogger("sfnstack.serve.api")

__all__ = ["StartApi", "escape_javascript", "render_mapping_template"]

StartExecution = Callable[[dict[str, Any], str], dict[str, Any]]


def escape_javascript(text: str) -> str:
    """``$util.escapeJavaScript``: Apache commons-lang ``StringEscapeUtils.escapeJavaScript``,
    which API Gateway uses — note that it escapes ``'`` as ``\\'`` (not valid JSON), as on
    AWS."""
    out = []
    for char in text:
        code = ord(char)
        if char in "'\"\\/":
            out.append("\\" + char)
        elif char == "\b":
            out.append("\\b")
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\f":
            out.append("\\f")
        elif char == "\r":
            out.append("\\r")
        elif code < 32 or code > 0x7F:
            if code > 0xFFFF:  # Java strings are UTF-16: escape both surrogates
                code -= 0x10000
                out.append(f"\\u{0xD800 + (code >> 10):04X}\\u{0xDC00 + (code & 0x3FF):04X}")
            else:
                out.append(f"\\u{code:04X}")
        else:
            out.append(char)
    return "".join(out)


class _Input:
    def __init__(self, body: str) -> None:
        self.body = body
        try:
            self._parsed: Any = json.loads(body) if body.strip() else {}
        except json.JSONDecodeError:
            self._parsed = None

    def json(self, path: str) -> str:
        if self._parsed is None:
            raise _MappingError("$input.json() on a body that is not JSON")
        return json.dumps(
            jsonpath_get(self._parsed, path), separators=(",", ":"), ensure_ascii=False
        )

    def path(self, path: str) -> Any:
        if self._parsed is None:
            raise _MappingError("$input.path() on a body that is not JSON")
        return jsonpath_get(self._parsed, path)


class _Util:
    @staticmethod
    def escapeJavaScript(text: Any) -> str:
        return escape_javascript(str(text))

    @staticmethod
    def base64Encode(text: Any) -> str:
        return base64.b64encode(str(text).encode()).decode()

    @staticmethod
    def base64Decode(text: Any) -> str:
        return base64.b64decode(str(text)).decode()

    @staticmethod
    def urlEncode(text: Any) -> str:
        return quote(str(text), safe="")

    @staticmethod
    def parseJson(text: Any) -> Any:
        return json.loads(str(text))


class _MappingError(Exception):
    pass


def _java_replacement(replacement: str) -> str:
    """A java.util.regex replacement (``$1``, ``\\$``) as a Python one."""
    out, i = [], 0
    while i < len(replacement):
        char = replacement[i]
        if char == "\\" and i + 1 < len(replacement):
            out.append(replacement[i + 1].replace("\\", "\\\\"))
            i += 2
            continue
        if char == "$" and i + 1 < len(replacement) and replacement[i + 1].isdigit():
            out.append(f"\\g<{replacement[i + 1]}>")
            i += 2
            continue
        out.append("\\\\" if char == "\\" else char)
        i += 1
    return "".join(out)


def _java_replace_all(text: str, pattern: str, replacement: str) -> str:
    return re.sub(pattern, _java_replacement(replacement), text)


# airspeed gives Python strings Java's String methods through this table; its replaceAll
# passes a Java replacement ("$1") to re.sub unchanged, so group references came out
# literally. Set once, for every template this process renders.
airspeed.operators.__additional_methods__[str]["replaceAll"] = _java_replace_all


def _velocity_condition(self: Any, namespace: Any, loader: Any) -> bool:
    # Velocity: a null reference is false. airspeed-ext 0.6 returns True for None, so the
    # usual #if($input.path('$.optional')) took the branch for an absent field.
    return bool(self.expression.calculate(namespace, loader))


airspeed.operators.Condition.calculate = _velocity_condition


@functools.lru_cache(maxsize=64)
def _compiled(template: str) -> airspeed.Template:
    compiled = airspeed.Template(template)
    compiled.ensure_compiled()
    return compiled


def render_mapping_template(template: str, body: str, context: dict[str, Any]) -> str:
    """Render an integration request template for one request."""
    namespace = {"input": _Input(body), "util": _Util(), "context": context, "stageVariables": {}}
    try:
        return _compiled(template).merge(namespace)
    except airspeed.TemplateSyntaxError as exc:
        raise _MappingError(f"VTL syntax: {exc}") from exc
    except airspeed.TemplateExecutionError as exc:
        cause = exc.__cause__
        raise _MappingError(str(cause) if isinstance(cause, _MappingError) else str(exc)) from exc


def check_mapping_template(template: str) -> None:
    """Fail at start (not at the first request) on a template that does not parse."""
    try:
        _compiled(template)
    except airspeed.TemplateSyntaxError as exc:
        raise TemplateError(f"API request mapping template: {exc}") from exc


def _response(
    start_response: Callable[..., Any], status: int, body: dict[str, Any], request_id: str
) -> list[bytes]:
    payload = json.dumps(body).encode()
    reasons = {
        200: "OK",
        400: "Bad Request",
        403: "Forbidden",
        404: "Not Found",
        500: "Internal Server Error",
    }
    start_response(
        f"{status} {reasons.get(status, 'Error')}",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(payload))),
            ("x-amzn-RequestId", request_id),
        ],
    )
    return [payload]


class StartApi:
    """WSGI app for the template's StartExecution routes (at ``/path`` and
    ``/<stage>/path``)."""

    def __init__(
        self, routes: list[ApiRoute], start_execution: StartExecution, account: str
    ) -> None:
        self.routes = routes
        self.start_execution = start_execution
        self.account = account
        self._patterns: list[tuple[re.Pattern[str], ApiRoute]] = []
        for route in routes:
            if route.request_template:
                check_mapping_template(route.request_template)
            path_regex = re.sub(r"\\\{[^}/]+\\\}", "[^/]+", re.escape(route.path))
            stage = f"(?:/{re.escape(route.stage)})?" if route.stage else ""
            self._patterns.append((re.compile(f"{stage}{path_regex}/?"), route))

    def route_names(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.routes]

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request_id = str(uuid.uuid4())
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "/")
        route = next(
            (r for pattern, r in self._patterns if r.method == method and pattern.fullmatch(path)),
            None,
        )
        if route is None:
            known = ", ".join(self.route_names()) or "none"
            return _response(
                start_response,
                404,
                {"message": f"No route {method} {path}; routes: {known}"},
                request_id,
            )
        if route.iam_auth and not _sigv4_signed(environ):
            return _response(
                start_response, 403, {"message": "Missing Authentication Token"}, request_id
            )
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            body_text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _response(
                start_response, 400, {"message": "Invalid request body: not UTF-8"}, request_id
            )
        if route.validate_body and route.body_schema is not None:
            problems = _validate(body_text, route.body_schema)
            if problems:
                log.warning("start API %s %s: invalid body: %s", method, path, "; ".join(problems))
                return _response(
                    start_response,
                    400,
                    {"message": "Invalid request body", "errors": problems},
                    request_id,
                )
        context = {
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTimeEpoch": int(time.time() * 1000),
            "stage": route.stage or "",
            "httpMethod": method,
            "resourcePath": route.path,
            "path": path,
            "apiId": route.api_id,
            "accountId": self.account,
            "identity": {"sourceIp": environ.get("REMOTE_ADDR", "127.0.0.1")},
        }
        try:
            if route.request_template is not None:
                integration_body = render_mapping_template(
                    route.request_template, body_text, context
                )
            else:
                integration_body = body_text  # passthrough: the body is the StartExecution request
            try:
                request = json.loads(integration_body)
            except json.JSONDecodeError as exc:
                raise SfnError(
                    "SerializationException", f"StartExecution request is not JSON: {exc}"
                ) from exc
            if not isinstance(request, dict):
                raise SfnError(
                    "SerializationException", "StartExecution request must be a JSON object"
                )
            result = self.start_execution(request, f"api {method} {route.path}")
        except SfnError as error:
            return _response(
                start_response,
                error.status,
                {"__type": error.code, "message": error.message},
                request_id,
            )
        except _MappingError as exc:
            return _response(
                start_response, 500, {"message": f"Internal server error: {exc}"}, request_id
            )
        return _response(start_response, 200, result, request_id)


def _sigv4_signed(environ: dict[str, Any]) -> bool:
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    if authorization.startswith("AWS4-HMAC-SHA256 ") and "Credential=" in authorization:
        return True
    return "X-Amz-Signature=" in environ.get("QUERY_STRING", "")


def _validate(body_text: str, schema: dict[str, Any]) -> list[str]:
    try:
        document = json.loads(body_text)
    except json.JSONDecodeError as exc:
        return [f"body is not JSON: {exc}"]
    validator_class = jsonschema.validators.validator_for(
        schema, default=jsonschema.Draft4Validator
    )
    validator = validator_class(schema)
    problems = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in error.absolute_path) or "(body)"
        problems.append(f"{where}: {error.message}")
    return problems
