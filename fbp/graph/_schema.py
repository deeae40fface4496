"""Checking a JSON graph against the flow-based programming ecosystem's graph schema.

The schema (``fbp-graph.schema.json``, JSON Schema draft 04) is the one the ``fbp``
tools publish. It is applied as the ecosystem's own validator applies it, so that a
graph passes here exactly when it passes there: ``inports``/``outports`` list the
non-JSON type ``"undefined"`` (it matches nothing), a number with no fractional part
such as ``1e26`` is an integer, and ``format: uri`` on connection schemas is not
checked. Problems are reported in the order their elements appear in the graph.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, ValidationError, validators

from fbp._core._exceptions import GraphIssue, SourceLocation

__all__ = ("graph_schema", "schema_issues")

_SCHEMA_FILE = Path(__file__).with_name("fbp-graph.schema.json")

_TYPE_WORDS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a JSON object",
    "array": "a list",
    "null": "null",
}
_TYPE_HINTS = {
    "string": "write it as text in double quotes",
    "integer": "write a whole number without a fraction, e.g. 0",
    "boolean": "write true or false",
    "object": 'write a JSON object, e.g. {"key": "value"}',
    "array": "write a list, e.g. []",
}
_REQUIRED_HINTS = {
    "type": 'add "type" naming the runtime, e.g. "type": "python-fbp"',
}


@functools.cache
def graph_schema() -> dict[str, Any]:
    """Return the graph schema (a fresh parse is cached; do not modify it)."""
    schema: dict[str, Any] = json.loads(_SCHEMA_FILE.read_text(encoding="utf-8"))
    return schema


@functools.cache
def _validator() -> Draft4Validator:
    checker = Draft4Validator.TYPE_CHECKER.redefine_many(
        {"undefined": lambda _checker, _value: False, "integer": _is_integer}
    )
    cls = validators.extend(Draft4Validator, type_checker=checker)  # type: ignore[no-untyped-call]
    validator: Draft4Validator = cls(graph_schema())
    return validator


def _is_integer(_checker: object, value: object) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def schema_issues(graph: Any) -> list[GraphIssue]:
    """Check ``graph`` against the graph schema and report every problem.

    Args:
        graph: a JSON graph, as loaded from a ``.json`` file.

    Returns:
        One issue per problem, in document order; ``[]`` if the graph is valid. Each
        issue's location is the JSON path of the offending element, e.g.
        ``connections[3].tgt.port``.
    """
    issues = [issue for error in _validator().iter_errors(graph) for issue in _issues(error)]
    return sorted(issues, key=lambda issue: _document_order(graph, issue.location.path))


def _document_order(graph: Any, path: tuple[str | int, ...]) -> tuple[int, ...]:
    """Where ``path`` is in ``graph``: the index of each step among its siblings."""
    order: list[int] = []
    node = graph
    for step in path:
        if isinstance(node, Mapping):
            keys = list(node)
            order.append(keys.index(step) if step in keys else len(keys))
            node = node.get(step)
        elif isinstance(node, list) and isinstance(step, int):
            order.append(step)
            node = node[step] if step < len(node) else None
        else:
            break
    return tuple(order)


def _issues(error: ValidationError) -> Iterator[GraphIssue]:
    path = tuple(error.absolute_path)
    instance, schema = error.instance, error.schema
    if error.validator == "additionalProperties" and isinstance(instance, Mapping):
        assert isinstance(schema, Mapping)
        allowed = list(schema.get("properties", {}))
        patterns = list(schema.get("patternProperties", {}))
        for key in instance:
            if key in allowed or any(re.search(p, key) for p in patterns):
                continue
            where = SourceLocation(path=(*path, key))
            if patterns:
                yield GraphIssue(
                    f"name {key!r} is not allowed here",
                    where,
                    "use a name with at least one ASCII letter, digit or underscore",
                )
            else:
                yield GraphIssue(
                    f"unexpected key {key!r}", where, f"allowed keys here: {', '.join(allowed)}"
                )
    elif error.validator == "required" and isinstance(instance, Mapping):
        assert isinstance(error.validator_value, list)
        for key in error.validator_value:
            if key not in instance:
                yield GraphIssue(
                    f"missing required key {key!r}",
                    SourceLocation(path=path),
                    _REQUIRED_HINTS.get(key, f"add {key!r}"),
                )
    elif error.validator == "type":
        wanted = error.validator_value
        listed = [wanted] if isinstance(wanted, str) else wanted if isinstance(wanted, list) else []
        types = [t for t in listed if t in _TYPE_WORDS]
        words = " or ".join(_TYPE_WORDS[t] for t in types)
        yield GraphIssue(
            f"{'' if path else 'the graph '}must be {words}, not {_describe(instance)}",
            SourceLocation(path=path),
            _TYPE_HINTS.get(types[0], "") if types else "",
        )
    else:
        yield GraphIssue(error.message, SourceLocation(path=path))


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 30 else value[:27] + "..."
        return f"the text {shown!r}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, Mapping):
        return "a JSON object"
    return type(value).__name__
