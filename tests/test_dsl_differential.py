"""Our .fbp parser and writer against the reference parser (npm ``fbp`` 1.8.0).

Needs Node.js and ``tests/npm/node_modules`` (``npm ci --prefix tests/npm``): the tests
here are marked ``node`` (skipped without them; failed instead where FBP_REQUIRE_NODE is
set). The reference parser runs once per batch, in one Node.js process, over the whole
corpus or over every generated example.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import pytest
from dsl_corpus import dsl_support as support
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fbp.graph._dsl import parse_fbp
from fbp.graph._dsl_write import fbp_normal_form, to_fbp

pytestmark = pytest.mark.node  # runs a reference tool from tests/npm

FILES = support.corpus_files()
DIVERGENT = support.corpus_files("divergent")


def reference(items: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    """The reference parser's answers; the test fails if it is not installed."""
    try:
        records: list[dict[str, Any]] = support.run_reference(items)
    except RuntimeError as e:
        problem = str(e)
    else:
        return records
    pytest.fail(problem, pytrace=False)


@pytest.fixture(scope="module")
def answers() -> dict[str, dict[str, dict[str, Any]]]:
    """The reference parser's answers for the whole corpus (one Node.js run)."""
    files = support.corpus_files()
    records = iter(
        reference([(support.read(p), cs) for p in files for cs in support.MODES.values()])
    )
    return {support.name_of(p): {mode: next(records) for mode in support.MODES} for p in files}


def diff(expected: object, actual: object) -> str:
    a = json.dumps(expected, indent=1, sort_keys=True).splitlines()
    b = json.dumps(actual, indent=1, sort_keys=True).splitlines()
    return "\n".join(difflib.unified_diff(a, b, "reference", "ours", lineterm=""))


@pytest.mark.parametrize("mode", list(support.MODES))
@pytest.mark.parametrize("path", [p for p in FILES if p not in DIVERGENT], ids=support.name_of)
def test_corpus_file_agrees_with_reference(
    answers: dict[str, dict[str, dict[str, Any]]], path: Path, mode: str
) -> None:
    record = answers[support.name_of(path)][mode]
    expected = support.reference_verdict(record)
    actual = support.our_verdict(support.read(path), support.MODES[mode])
    if expected[0] == actual[0] == "accept":
        ours = parse_fbp(support.read(path), case_sensitive=support.MODES[mode]).graph
        assert actual == expected, diff(record["graph"], ours)
    assert actual == expected, f"reference: {record}"


@pytest.mark.parametrize("path", DIVERGENT, ids=support.name_of)
def test_known_divergence_still_diverges(
    answers: dict[str, dict[str, dict[str, Any]]], path: Path
) -> None:
    # We treat Object.prototype member names as ordinary names; the reference parser
    # does not. If it ever does, move the file to valid/ or invalid/.
    record = answers[support.name_of(path)]["case_sensitive"]
    assert support.reference_verdict(record) != support.our_verdict(support.read(path), True)


def test_recorded_answers_are_current(answers: dict[str, dict[str, dict[str, Any]]]) -> None:
    recorded = support.load_snapshot()
    stale = sorted(name for name in answers if recorded.get(name) != answers[name])
    assert not stale, (
        f"tests/dsl_corpus/reference.json is out of date for {stale}:"
        " run .venv/bin/python tests/dsl_corpus/dsl_support.py"
    )
    assert set(recorded) == set(answers)


def test_written_graphs_read_the_same_in_both_parsers() -> None:
    """Generated graphs -> to_fbp -> both parsers -> the graph's normal form."""
    examples: list[tuple[str, dict[str, Any]]] = []

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(support.expressible_graphs())
    def collect(graph: dict[str, Any]) -> None:
        text = to_fbp(graph)
        normal = fbp_normal_form(graph)
        assert support.canonical(parse_fbp(text).graph) == support.canonical(normal), text
        examples.append((text, normal))

    collect()
    records = reference([(text, True) for text, _ in examples])
    for (text, normal), record in zip(examples, records, strict=True):
        assert record["ok"], f"reference rejects:\n{text}\n{record['error']}"
        assert support.canonical(record["graph"]) == support.canonical(normal), (
            f"{text}\n{diff(record['graph'], normal)}"
        )


def test_generated_texts_get_the_same_verdict() -> None:
    """Random soups of .fbp tokens: same graph, or same error at the same place."""
    examples: list[tuple[str, bool, tuple[Any, ...]]] = []

    @settings(max_examples=400, deadline=None)
    @given(support.fbp_soup, st.booleans())
    def collect(text: str, case_sensitive: bool) -> None:
        examples.append((text, case_sensitive, support.our_verdict(text, case_sensitive)))

    collect()
    records = reference([(text, cs) for text, cs, _ in examples])
    disagreements = [
        f"{text!r} (case_sensitive={cs}):\n  reference {support.reference_verdict(record)}\n"
        f"  ours      {ours}"
        for (text, cs, ours), record in zip(examples, records, strict=True)
        if support.reference_verdict(record) != ours
    ]
    verdicts = {ours[0] for _, _, ours in examples}
    assert verdicts == {"accept", "syntax", "graph-error"}, "the soup should reach every verdict"
    assert not disagreements, "\n".join(disagreements[:10])
