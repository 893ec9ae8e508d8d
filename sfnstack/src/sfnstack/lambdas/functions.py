"""Lambda functions as the local runtime knows them: resolved from a SAM/CloudFormation
template (CodeUri, Handler, Layers, Environment with Globals, Timeout, MemorySize) or
registered from a Python callable (``module:callable``).

Functions run on the Python that runs the stack, whatever their ``Runtime`` says (a warning
says so once), and a built layer's compiled dependencies for another platform are replaced
by the host's builds (``layer_view``), so a template that `sam build` wrote runs too.
"""

from __future__ import annotations

import hashlib
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sfnstack import arns
from sfnstack.arns import DEFAULT_ACCOUNT_ID, DEFAULT_REGION
from sfnstack.lambdas.layer_view import view
from sfnstack.template import (
    FUNCTION_TYPES,
    LAYER_TYPES,
    SERVERLESS_FUNCTION,
    Template,
    TemplateError,
)

DEFAULT_TIMEOUT_SECONDS = 3  # Lambda's and SAM's default
DEFAULT_MEMORY_MB = 128
# Warnings already printed by this process (each is said once, however many runtimes start).
_WARNED: set[str] = set()


def warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        print(f"sfnstack: {message}", file=sys.stderr)


@dataclass
class LocalFunction:
    """Everything needed to run one function's execution environments."""

    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str  # "module.attribute", like Lambda's Handler
    layers: list[Path] = field(default_factory=list)  # import-path dirs, as /opt/python
    environment: dict[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    memory_size: int = DEFAULT_MEMORY_MB
    runtime: str = "python3.11"
    architectures: list[str] = field(default_factory=lambda: ["x86_64"])
    region: str = DEFAULT_REGION
    # Layers referenced by ARN only (e.g. the public Powertools layer): the project's own
    # environment provides their packages locally.
    external_layers: list[str] = field(default_factory=list)
    # Why this function cannot run locally (non-Python runtime, code in S3, image); set
    # instead of failing the whole template, since the state machine may never call it.
    unsupported: str | None = None
    # Callables registered from the CLI keep the caller's import path (cwd first).
    keep_caller_path: bool = False


def function_from_callable(
    name: str,
    target: str,
    *,
    code_dir: Path | None = None,
    timeout: float = 60,
    memory_size: int = DEFAULT_MEMORY_MB,
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT_ID,
    environment: dict[str, str] | None = None,
) -> LocalFunction:
    """``NAME=module:callable`` from the command line as a Lambda function named NAME."""
    module, sep, attribute = target.partition(":")
    if not sep or not module or not attribute or not re.fullmatch(r"[\w.]+", module + attribute):
        raise ValueError(f"function {name}: {target!r} is not module:callable")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
        raise ValueError(f"function name {name!r}: letters, digits, - and _ only (max 64)")
    return LocalFunction(
        logical_id=name,
        name=name,
        arn=arns.function_arn(name, region, account_id),
        code_dir=(code_dir or Path.cwd()).resolve(),
        handler=f"{module}.{attribute}",
        timeout=timeout,
        memory_size=memory_size,
        region=region,
        environment=dict(environment or {}),
        keep_caller_path=True,
    )


def _layer_dirs(content: Path) -> list[Path]:
    """What Lambda puts on the import path from a layer: /opt/python and
    /opt/python/lib/pythonX.Y/site-packages; a layer without python/ goes on as-is."""
    python_dir = content / "python"
    if not python_dir.is_dir():
        return [content]
    dirs = [python_dir]
    dirs.extend(sorted(python_dir.glob("lib/python3*/site-packages")))
    return dirs


def _importable_layer_dirs(logical_id: str, content: Path) -> list[Path]:
    """``_layer_dirs`` as this interpreter can import them: distributions built for another
    platform give way to the host's builds (said once on stderr)."""
    dirs = []
    for directory in _layer_dirs(content):
        layer_view = view(directory)
        dirs.append(layer_view.path)
        if layer_view.replaced:
            warn_once(
                f"layer {logical_id}: {', '.join(layer_view.replaced)} built for another "
                "platform; this Python's own builds stand in for them"
            )
        if layer_view.unloadable:
            warn_once(
                f"layer {logical_id}: {', '.join(layer_view.unloadable)} built for another "
                "platform and not installed here: functions importing them will fail"
            )
    return dirs


def _warn_if_other_runtime(functions: dict[str, LocalFunction]) -> None:
    """One warning per other Python runtime declared, naming its functions (a non-Python
    runtime is not warned about: invoking such a function fails, naming it)."""
    here = f"python{sys.version_info.major}.{sys.version_info.minor}"
    by_runtime: dict[str, list[str]] = {}
    for function in functions.values():
        if not function.unsupported and function.runtime != here:
            by_runtime.setdefault(function.runtime, []).append(function.logical_id)
    for runtime, names in sorted(by_runtime.items()):
        warn_once(
            f"functions declare Runtime {runtime}; they run on this Python "
            f"({sys.version.split()[0]}), whose behaviour may differ: {', '.join(sorted(names))}"
        )


def _local_layers(template: Template) -> dict[str, tuple[str, list[Path] | None, str | None]]:
    """layer ARN -> (logical id, import dirs or None, reason it is not local)."""
    layers: dict[str, tuple[str, list[Path] | None, str | None]] = {}
    for logical_id, resource in template.resources.items():
        if resource["Type"] not in LAYER_TYPES:
            continue
        props = resource.get("Properties") or {}
        key = "ContentUri" if resource["Type"] == "AWS::Serverless::LayerVersion" else "Content"
        content = template.resolve(props.get(key), f"{logical_id}.Properties.{key}")
        arn = template.layer_arn(logical_id)
        if isinstance(content, str) and not content.startswith("s3://"):
            path = (template.base_dir / content).resolve()
            if not path.is_dir():
                raise TemplateError(f"{logical_id}.Properties.{key}: {path} is not a directory")
            layers[arn] = (logical_id, _importable_layer_dirs(logical_id, path), None)
        else:
            layers[arn] = (logical_id, None, f"layer {logical_id} content is not a local directory")
    return layers


def _inline_code_dir(template: Template, logical_id: str, code: str) -> Path:
    # Lambda stores inline code as index.py; keep one directory per distinct code.
    digest = hashlib.sha256(code.encode()).hexdigest()[:16]
    directory = Path(tempfile.gettempdir()) / "sfnstack-inline-code" / f"{logical_id}-{digest}"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "index.py").write_text(code, encoding="utf-8")
    return directory


def _environment(template: Template, logical_id: str, props: dict[str, Any]) -> dict[str, str]:
    where = f"{logical_id}.Properties.Environment.Variables"
    variables = template.resolve((props.get("Environment") or {}).get("Variables") or {}, where)
    if not isinstance(variables, dict):
        raise TemplateError(f"{where}: must be a mapping")
    environment = {}
    for key, value in variables.items():
        if isinstance(value, dict | list):
            raise TemplateError(f"{where}.{key}: resolves to {value!r}, not a string")
        environment[str(key)] = (
            ("true" if value else "false") if isinstance(value, bool) else str(value)
        )
    return environment


def resolve_function(
    template: Template,
    logical_id: str,
    layers: dict[str, tuple[str, list[Path] | None, str | None]],
) -> LocalFunction:
    resource = template.resource(logical_id)
    props = resource.get("Properties") or {}
    where = f"{logical_id}.Properties"
    unsupported: str | None = None
    serverless = resource["Type"] == SERVERLESS_FUNCTION

    code_dir = template.base_dir
    if serverless:
        if props.get("PackageType") == "Image":
            unsupported = "PackageType Image needs a container runtime"
        elif "InlineCode" in props:
            code = template.resolve(props["InlineCode"], f"{where}.InlineCode")
            code_dir = _inline_code_dir(template, logical_id, str(code))
        else:
            code_uri = template.resolve(props.get("CodeUri", "."), f"{where}.CodeUri")
            if isinstance(code_uri, str) and not code_uri.startswith("s3://"):
                code_dir = (template.base_dir / code_uri).resolve()
            else:
                unsupported = f"CodeUri {code_uri!r} is not a local directory"
    else:
        code = template.resolve(props.get("Code"), f"{where}.Code")
        if isinstance(code, str) and not code.startswith("s3://"):
            code_dir = (template.base_dir / code).resolve()
        elif isinstance(code, dict) and "ZipFile" in code:
            code_dir = _inline_code_dir(template, logical_id, str(code["ZipFile"]))
        else:
            unsupported = f"Code {code!r} is not local code"
    if unsupported is None and not code_dir.is_dir():
        key = "CodeUri" if serverless else "Code"
        if code_dir.suffix == ".zip":
            unsupported = f"{key} {code_dir} is a zip archive; point it at the source directory"
        else:
            raise TemplateError(f"{where}.{key}: {code_dir} is not a directory")

    handler = template.resolve(props.get("Handler"), f"{where}.Handler")
    runtime = str(template.resolve(props.get("Runtime", ""), f"{where}.Runtime") or "")
    if unsupported is None:
        if not handler:
            raise TemplateError(f"{where}.Handler: missing")
        if runtime and not runtime.startswith("python3"):
            unsupported = f"Runtime {runtime} (only Python runtimes run locally)"

    layer_dirs: list[Path] = []
    external: list[str] = []
    for i, entry in enumerate(template.resolve(props.get("Layers") or [], f"{where}.Layers")):
        if entry in layers:
            _layer_id, content, reason = layers[entry]
            if content is None:
                external.append(f"{entry} ({reason})")
            else:
                layer_dirs.extend(content)
        elif isinstance(entry, str) and entry.startswith("arn:"):
            external.append(entry)
        else:
            raise TemplateError(f"{where}.Layers[{i}]: {entry!r} is not a layer ARN")

    def number(key: str, default: float) -> float:
        value = template.resolve(props.get(key, default), f"{where}.{key}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise TemplateError(f"{where}.{key}: {value!r} is not a number") from None

    architectures = template.resolve(
        props.get("Architectures") or ["x86_64"], f"{where}.Architectures"
    )
    return LocalFunction(
        logical_id=logical_id,
        name=template.function_name(logical_id),
        arn=template.function_arn(logical_id),
        code_dir=code_dir,
        handler=str(handler or ""),
        layers=layer_dirs,
        environment=_environment(template, logical_id, props),
        timeout=number("Timeout", DEFAULT_TIMEOUT_SECONDS),
        memory_size=int(number("MemorySize", DEFAULT_MEMORY_MB)),
        runtime=runtime or "python3.11",
        architectures=[str(a) for a in architectures],
        region=template.region,
        external_layers=external,
        unsupported=unsupported,
    )


def resolve_functions(template: Template) -> dict[str, LocalFunction]:
    """Every Lambda function of the template, by logical id."""
    layers = _local_layers(template)
    functions = {
        logical_id: resolve_function(template, logical_id, layers)
        for logical_id, resource in template.resources.items()
        if resource["Type"] in FUNCTION_TYPES
    }
    _warn_if_other_runtime(functions)
    return functions
