"""Run sfnstack's validator over every Step Functions definition found in public example
collections, and count: valid / refused (with the message) / crashed (with the traceback).

    PYTHONPATH=src python benchmarks/public_definitions.py PATH... [--show-valid] [--full]

Each PATH is a checked-out directory or a bare git directory (read at HEAD with
``git ls-tree`` / ``git show``, so a mirror needs no work tree). Found as definitions:
``*.asl`` / ``*.asl.json`` / ``*.asl.yaml`` files, any other ``*.json`` whose top level has StartAt and
States, and the inline ``Definition`` / ``DefinitionString`` of ``AWS::StepFunctions::
StateMachine`` and ``AWS::Serverless::StateMachine`` resources in CloudFormation/SAM
templates (YAML or JSON; ``Fn::Sub`` and ``Fn::Join`` strings read as text), the
Serverless Framework's ``stepFunctions.stateMachines.*.definition`` in ``serverless.yml``,
and fenced code blocks of Markdown pages that hold a whole definition (or serverless.yml).

A definition that SAM or CloudFormation would complete first carries ``${Name}``
placeholders (DefinitionSubstitutions, Fn::Sub): they are filled the way a deployment
would fill them, with a function ARN where the placeholder is a whole Task ``Resource``,
pseudo parameters (``AWS::Region``...) with their usual values, a test template's marker
(LocalStack's ``__tbd__``, ``%..._PLACEHOLDER%``) likewise, a number where the
placeholder stands outside a string, and a plain name elsewhere. Identical definitions
(the same JSON) are counted once. The collections themselves are never copied anywhere:
this script only reads them.

"Refused" means sfnstack's validator raised a DefinitionError: for a definition AWS
accepts that is a bug to fix (or a placeholder this script filled badly; the message
says which field). "Crashed" is any other exception: always a bug.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import random
import re
import subprocess
import sys
import traceback
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sfnstack.asl import DefinitionError, StateMachine
from sfnstack.template import TemplateError, parse_definition_text, parse_template_text

STATE_MACHINE_TYPES = ("AWS::StepFunctions::StateMachine", "AWS::Serverless::StateMachine")
PSEUDO = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::StackName": "stack",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/stack/id",
}
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
# A whole Task Resource left to the deployment: ${Name}, or a test template's marker.
_WHOLE_RESOURCE = re.compile(
    r'("Resource"\s*:\s*")(?:\$\{([^}]*)\}|(_+(?:tbd|TBD|tbc)_+|%[A-Z_]+_PLACEHOLDER%))(")'
)
# A test template's marker where a path goes.
_PATH_MARKER = re.compile(r'"%[A-Z_]+_PLACEHOLDER%"')
_MAX_FILE_BYTES = 2_000_000


@dataclass
class Found:
    where: str  # source: path (and resource)
    text: str  # the definition's JSON/YAML text, placeholders still in
    kind: str  # asl-file | json-file | template


@dataclass
class Outcome:
    valid: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    crashed: list[tuple[str, str]] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    duplicates: int = 0
    definitions: list[dict[str, Any]] = field(default_factory=list)  # the valid ones


# Reading a collection ---------------------------------------------------------------


def _is_git_dir(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir()


def _files(root: Path) -> Iterator[tuple[str, bytes]]:
    """(relative path, content) of every candidate file under ``root``."""
    if _is_git_dir(root):
        listing = subprocess.run(
            ["git", f"--git-dir={root}", "ls-tree", "-r", "-l", "HEAD"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for line in listing.splitlines():
            meta, _, name = line.partition("\t")
            parts = meta.split()
            if len(parts) < 4 or parts[1] != "blob" or not _candidate(name):
                continue
            if parts[3] != "-" and int(parts[3]) > _MAX_FILE_BYTES:
                continue
            blob = subprocess.run(
                ["git", f"--git-dir={root}", "cat-file", "blob", parts[2]],
                check=False,
                capture_output=True,
            )
            if blob.returncode == 0:  # a snapshot may lack its largest files
                yield name, blob.stdout
        return
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if "/node_modules/" in f"/{rel}" or "/.git/" in f"/{rel}":
            continue
        if path.is_file() and _candidate(rel) and path.stat().st_size <= _MAX_FILE_BYTES:
            yield rel, path.read_bytes()


def _candidate(name: str) -> bool:
    lower = name.lower()
    if "node_modules/" in lower or lower.startswith(".git/"):
        return False
    return lower.endswith((".json", ".json5", ".yaml", ".yml", ".template", ".asl", ".md"))


def discover(root: Path) -> Iterator[Found]:
    for name, blob in _files(root):
        try:
            text = blob.decode("utf-8-sig")
        except UnicodeDecodeError:
            continue
        lower = name.lower()
        if lower.endswith((".asl", ".asl.json", ".asl.yaml", ".asl.yml")):
            yield Found(f"{_label(root)}:{name}", text, "asl-file")
            continue
        if lower.endswith(".md"):
            yield from _markdown_definitions(_label(root), name, text)
            continue
        if lower.endswith((".yml", ".yaml")) and "stepFunctions:" in text:
            yield from _serverless_definitions(_label(root), name, text)
            continue
        if "StateMachine" in text and (
            "AWS::StepFunctions::StateMachine" in text or "AWS::Serverless::StateMachine" in text
        ):
            yield from _template_definitions(_label(root), name, text)
            continue
        if lower.endswith((".json", ".json5")) and '"StartAt"' in text and '"States"' in text:
            if lower.endswith(".json5"):
                text = json5_as_json(text)
            try:
                document = json.loads(text)
            except json.JSONDecodeError:
                continue
            if isinstance(document, dict) and "StartAt" in document and "States" in document:
                yield Found(f"{_label(root)}:{name}", text, "json-file")


def _label(root: Path) -> str:
    """A collection's name: a mirror's ``owner+name/repo`` git dir is named by its parent."""
    return root.parent.name if root.name in ("repo", ".git") else root.name


_FENCE = re.compile(r"^```[ \t]*(json5?|ya?ml|asl)?[^\n]*\n(.*?)^```", re.M | re.S)


def _markdown_definitions(source: str, name: str, text: str) -> Iterator[Found]:
    """Fenced code blocks of a README or workshop page that are whole definitions."""
    if "StartAt" not in text:
        return
    for n, match in enumerate(_FENCE.finditer(text)):
        block = match.group(2)
        if "stepFunctions:" in block:
            yield from _serverless_definitions(source, f"{name}[block {n}]", block)
        elif "StartAt" in block and "States" in block:
            yield Found(f"{source}:{name}[block {n}]", json5_as_json(block), "markdown")


def _serverless_definitions(source: str, name: str, text: str) -> Iterator[Found]:
    """The Serverless Framework's ``stepFunctions.stateMachines.<name>.definition`` (read
    as its js-yaml reads it: YAML 1.2 booleans, as sfnstack reads definition files)."""
    try:
        config = parse_definition_text(text, name)
    except (TemplateError, yaml.YAMLError, ValueError, RecursionError):
        return
    machines = (config.get("stepFunctions") or {}) if isinstance(config, dict) else {}
    machines = machines.get("stateMachines") if isinstance(machines, dict) else None
    if not isinstance(machines, dict):
        return
    for machine_name, machine in machines.items():
        definition = machine.get("definition") if isinstance(machine, dict) else None
        if isinstance(definition, dict):
            definition = _placeholders_for_intrinsics(definition)
            yield Found(f"{source}:{name}#{machine_name}", json.dumps(definition), "serverless")


def _template_definitions(source: str, name: str, text: str) -> Iterator[Found]:
    try:
        template = parse_template_text(text)
    except (TemplateError, yaml.YAMLError, ValueError, RecursionError):
        return  # not a template this script can read: not a definition source
    resources = template.get("Resources") if isinstance(template, dict) else None
    if not isinstance(resources, dict):
        return
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict) or resource.get("Type") not in STATE_MACHINE_TYPES:
            continue
        props = resource.get("Properties") or {}
        if not isinstance(props, dict):
            continue
        where = f"{source}:{name}#{logical_id}"
        if isinstance(props.get("Definition"), dict):
            definition = _placeholders_for_intrinsics(props["Definition"])
            yield Found(where, json.dumps(definition), "template")
        elif "DefinitionString" in props:
            definition_text = _intrinsic_text(props["DefinitionString"])
            if definition_text is not None:
                yield Found(where, definition_text, "template")


def _placeholders_for_intrinsics(value: Any) -> Any:
    """An inline Definition with its intrinsic functions as ``${...}`` text: Fn::Sub's
    string, ``${Name}`` for Ref, ``${Name.Attr}`` for Fn::GetAtt, Fn::Join joined."""
    if isinstance(value, list):
        return [_placeholders_for_intrinsics(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref" and isinstance(arg, str):
            return f"${{{arg}}}"
        if fn == "Fn::GetAtt":
            parts = arg.split(".", 1) if isinstance(arg, str) else arg
            if isinstance(parts, list) and all(isinstance(p, str) for p in parts):
                return f"${{{'.'.join(parts)}}}"
        if fn in ("Fn::Sub", "Fn::Join"):
            text = _intrinsic_text(value)
            if text is not None:
                return text
    return {k: _placeholders_for_intrinsics(v) for k, v in value.items()}


def _intrinsic_text(value: Any) -> str | None:
    """The text of a DefinitionString: a string, Fn::Sub's string, or Fn::Join's parts
    (a part that is not a string becomes a ``${...}`` placeholder)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Fn::Sub":
            template = arg[0] if isinstance(arg, list) and arg else arg
            return template if isinstance(template, str) else None
        if fn == "Fn::Join" and isinstance(arg, list) and len(arg) == 2:
            separator, parts = arg
            if isinstance(separator, str) and isinstance(parts, list):
                texts = [
                    part if isinstance(part, str) else _placeholders_for_intrinsics(part)
                    for part in parts
                ]
                return separator.join(
                    text if isinstance(text, str) else f"${{Part{i}}}"
                    for i, text in enumerate(texts)
                )
    return None


def json5_as_json(text: str) -> str:
    """The JSON in a JSON5 test template (as LocalStack's): comments and trailing commas
    removed, outside strings."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            end = i + 1
            while end < n and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            out.append(text[i : end + 1])
            i = end + 1
        elif text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
        elif text.startswith("/*", i):
            close = text.find("*/", i + 2)
            i = n if close < 0 else close + 2
        else:
            out.append(ch)
            i += 1
    return re.sub(r",(\s*[}\]])", r"\1", "".join(out))


# Filling placeholders --------------------------------------------------------------


def fill_placeholders(text: str) -> str:
    """``${Name}`` as a deployment would fill it (see the module docstring)."""

    def name_of(raw: str) -> str:
        return re.sub(r"[^A-Za-z0-9-]", "-", raw.split(".")[0])[:60] or "x"

    text = _WHOLE_RESOURCE.sub(
        lambda m: (
            f"{m.group(1)}arn:aws:lambda:us-east-1:123456789012:function:"
            f"{name_of(m.group(2) or m.group(3) or 'x')}{m.group(4)}"
        ),
        text,
    )
    text = _PATH_MARKER.sub('"$"', text)
    out: list[str] = []
    pos = 0
    in_string = False
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and in_string:
            i += 2
            continue
        if ch == '"':
            in_string = not in_string
        elif ch == "$" and text.startswith("${", i):
            match = _PLACEHOLDER.match(text, i)
            if match:
                raw = match.group(1)
                value = _string_placeholder(raw) if in_string else "1"
                out.append(text[pos:i])
                out.append(value)
                pos = i = match.end()
                continue
        i += 1
    out.append(text[pos:])
    return "".join(out)


def _string_placeholder(raw: str) -> str:
    if raw in PSEUDO:
        return PSEUDO[raw]
    lower = raw.lower()
    for word, value in (("partition", "aws"), ("region", "us-east-1"), ("account", "123456789012")):
        if word in lower:
            return value
    return re.sub(r"[^A-Za-z0-9-]", "-", raw.split(".")[0])[:60] or "x"


# Validating --------------------------------------------------------------------------


def check(found: Found, outcome: Outcome, seen: set[str]) -> None:
    try:
        definition = parse_definition_text(fill_placeholders(found.text), found.where)
    except TemplateError as exc:
        outcome.unreadable.append((found.where, str(exc)[:200]))
        return
    if not isinstance(definition.get("States"), dict) or "StartAt" not in definition:
        return  # not a state machine definition after all
    try:
        canonical = json.dumps(definition, sort_keys=True, default=str)
    except TypeError:  # YAML keys that are not all strings
        canonical = repr(definition)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    if digest in seen:
        outcome.duplicates += 1
        return
    seen.add(digest)
    try:
        StateMachine(definition, name="PublicDefinition")
    except DefinitionError as exc:
        outcome.refused.append((found.where, str(exc)))
    except Exception:
        outcome.crashed.append((found.where, traceback.format_exc()))
    else:
        outcome.valid.append(found.where)
        outcome.definitions.append(definition)


_WRONG_VALUES: tuple[Any, ...] = (None, 7, "x", [], {}, True, [{}], {"a": {}})


def mutants(definition: dict[str, Any], limit: int, rng: random.Random) -> Iterator[Any]:
    """Copies of ``definition`` with one field's value replaced by a value of the wrong
    shape (at most ``limit``, a fixed-seed sample)."""
    spots: list[tuple[list[Any], Any]] = []

    def walk(value: Any, path: list[Any]) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                spots.append((path, key))
                walk(sub, [*path, key])
        elif isinstance(value, list):
            for i, sub in enumerate(value):
                spots.append((path, i))
                walk(sub, [*path, i])

    walk(definition, [])
    choices = [(spot, wrong) for spot in spots for wrong in _WRONG_VALUES]
    for (path, key), wrong in rng.sample(choices, min(limit, len(choices))):
        mutant = copy.deepcopy(definition)
        target = mutant
        for step in path:
            target = target[step]
        target[key] = copy.deepcopy(wrong)
        yield mutant


def mutate_all(definitions: list[dict[str, Any]], limit: int) -> tuple[int, Counter[str]]:
    """Validate every mutant; the crashes (not a DefinitionError), by where they came from."""
    rng = random.Random(16)
    crashes: Counter[str] = Counter()
    count = 0
    for definition in definitions:
        for mutant in mutants(definition, limit, rng):
            count += 1
            try:
                StateMachine(mutant, name="Mutant")
            except DefinitionError:
                pass
            except Exception as exc:
                frame = traceback.extract_tb(exc.__traceback__)[-1]
                crashes[
                    f"{type(exc).__name__}: {exc} ({Path(frame.filename).name}:{frame.lineno})"
                ] += 1
    return count, crashes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, help="collection directories or git dirs")
    parser.add_argument("--show-valid", action="store_true", help="list the valid ones too")
    parser.add_argument("--full", action="store_true", help="print whole tracebacks")
    parser.add_argument(
        "--mutate",
        type=int,
        default=0,
        metavar="N",
        help="also validate N wrong-shaped mutants of each valid definition (crash hunt)",
    )
    args = parser.parse_args(argv)
    outcome = Outcome()
    seen: set[str] = set()
    kinds: Counter[str] = Counter()
    for root in args.paths:
        root = root.resolve()
        if not root.exists():
            print(f"public_definitions: {root}: no such directory", file=sys.stderr)
            return 2
        for found in discover(root):
            kinds[found.kind] += 1
            check(found, outcome, seen)
    found_total = sum(kinds.values())
    print(
        f"found {found_total} definitions ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}); "
        f"{outcome.duplicates} duplicates and {len(outcome.unreadable)} unreadable files skipped"
    )
    checked = len(outcome.valid) + len(outcome.refused) + len(outcome.crashed)
    print(
        f"checked {checked} distinct definitions: valid {len(outcome.valid)}, "
        f"refused {len(outcome.refused)}, crashed {len(outcome.crashed)}"
    )
    if outcome.refused:
        print("\nrefused:")
        for where, message in outcome.refused:
            print(f"  {where}\n      {message}")
    if outcome.crashed:
        print("\ncrashed:")
        for where, trace in outcome.crashed:
            lines = trace.rstrip().splitlines()
            shown = lines if args.full else lines[-3:]
            print(f"  {where}")
            for line in shown:
                print(f"      {line}")
    if outcome.unreadable:
        print("\nunreadable (not valid JSON/YAML after filling placeholders):")
        for where, message in outcome.unreadable:
            print(f"  {where}: {message}")
    if args.mutate:
        count, crashes = mutate_all(outcome.definitions, args.mutate)
        print(f"\nmutants: {count} validated, {sum(crashes.values())} crashed")
        for where, n in crashes.most_common():
            print(f"  {n:5d}  {where}")
    if args.show_valid:
        print("\nvalid:")
        for where in outcome.valid:
            print(f"  {where}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
