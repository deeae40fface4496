"""Every standard collection: registered, documented, typed, with tuple ``__all__``."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest

from fbp import Component
from fbp.graph import Registry, loads_graph, run

ROOT = Path(__file__).resolve().parent.parent

COLLECTIONS = ("io", "flow", "math", "examples")

EXPECTED = {
    "io": {"ReadLines", "ReadCSV", "ReadJSONLines", "WriteLines", "WriteJSONLines"},
    "flow": {
        "Filter", "Map", "Split", "Merge", "Replicate", "Collate", "GroupBy", "Batch",
        "Unbatch", "Take", "Zip",
    },
    "math": {"Add", "Multiply", "Scale", "Sum", "Mean", "Count"},
    "examples": {"Scale", "SplitWords", "Sort", "Naturals", "Concat", "Double"},
}  # fmt: skip


def components() -> list[tuple[str, type[Component]]]:
    out: list[tuple[str, type[Component]]] = []
    registry = Registry()
    for coll in COLLECTIONS:
        for name, obj in registry.collection_members(coll).items():
            if isinstance(obj, type):
                out.append((f"{coll}/{name}", obj))
    return out


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_each_collection_offers_its_components(collection: str) -> None:
    assert set(Registry().collection_members(collection)) == EXPECTED[collection]


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_each_collection_has_a_tuple_all_of_names_it_defines(collection: str) -> None:
    mod: Any = importlib.import_module(f"fbp_components.{collection}")
    assert isinstance(mod.__all__, tuple)
    assert list(mod.__all__) == sorted(mod.__all__)
    for name in mod.__all__:
        assert hasattr(mod, name), name


@pytest.mark.parametrize(("name", "cls"), components(), ids=lambda v: str(v))
def test_every_component_has_a_summary_and_described_typed_ports(
    name: str, cls: type[Component]
) -> None:
    spec = cls.spec()
    assert spec.description, f"{name} has no one-line summary"
    assert spec.description.endswith("."), f"{name}: end the summary with a period"
    assert len(spec.description) <= 100, f"{name}: keep the summary to one line"
    for p in (*spec.inports, *spec.outports):
        assert p.description, f"{name}.{p.display} has no description"
        assert p.tp is not None


def test_every_component_is_documented_in_the_components_guide() -> None:
    guide = (ROOT / "docs" / "components.md").read_text()
    for name, _ in components():
        assert f"`{name}`" in guide, f"docs/components.md does not describe {name}"
    assert "`examples/Double`" in guide


DOC_EXAMPLE = re.compile(r"```fbp\n(?P<graph>.*?)```\s*```text\n(?P<output>.*?)```", re.DOTALL)


def doc_examples() -> list[tuple[str, str]]:
    text = (ROOT / "docs" / "components.md").read_text()
    return [(m["graph"], m["output"]) for m in DOC_EXAMPLE.finditer(text)]


def test_the_components_guide_has_examples() -> None:
    assert len(doc_examples()) >= 10


@pytest.mark.parametrize(("graph", "output"), doc_examples(), ids=lambda v: v.split("\n")[0][:40])
def test_each_example_of_the_components_guide_prints_what_it_says(
    graph: str, output: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    capsys.readouterr()
    result = run(loads_graph(graph, "fbp"), capacity=1)
    assert result.status == "completed"
    assert capsys.readouterr().out == output
