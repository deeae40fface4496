"""Networks in notebooks: a sync ``run`` inside a running event loop, results as tables.

The last test runs real cells in a real IPython kernel (nbclient + ipykernel).
"""

from __future__ import annotations

import asyncio
import html.parser
from pathlib import Path

import pytest

from fbp.graph import Graph, run
from fbp.testing import ListSink, run_component

ROOT = Path(__file__).resolve().parent.parent


def numbers(n: int) -> Graph:
    g = Graph("numbers")
    g.add_process("Count", "core/Range")
    g.add_process("Kept", ListSink)
    g.connect("Count.OUT", "Kept.IN")
    g.add_initial(n, "Count.COUNT")
    return g


def test_run_returns_the_sinks_outputs_by_process() -> None:
    result = run(numbers(4))
    assert result.status == "completed"
    assert result.outputs == {"Kept": [0, 1, 2, 3]}


async def test_the_sync_run_works_inside_a_running_event_loop() -> None:
    asyncio.get_running_loop()  # as in a notebook's cell
    result = run(numbers(3))
    assert result.outputs["Kept"] == [0, 1, 2]
    out = run_component(ListSink, inputs={"in": ["a", "b"]})
    assert out == {}  # ListSink has no output port; it ran without "loop already running"


class _Cells(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self.tables = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self.tables += tag == "table"

    def handle_data(self, data: str) -> None:
        self.cells.append(data)


def test_a_run_result_renders_as_html_tables() -> None:
    result = run(numbers(2))
    page = _Cells()
    page.feed(result._repr_html_())
    assert page.tables == 3  # processes, edges, outputs
    assert "Count" in page.cells and "core/Range" in page.cells
    assert "Count.OUT -> Kept.IN" in page.cells
    assert "0, 1" in page.cells


def test_a_traced_run_renders_as_html_tables(tmp_path: Path) -> None:
    from fbp.tracing import TraceWriter, open_trace

    with TraceWriter(tmp_path / "t.trace") as sink:
        run(numbers(2), trace=sink)
    with open_trace(tmp_path / "t.trace") as trace:
        page = _Cells()
        page.feed(trace._repr_html_())
        assert "numbers" in page.cells
        page = _Cells()
        page.feed(trace.run()._repr_html_())
        assert page.tables == 2
        assert "Count.OUT -> Kept.IN" in page.cells


@pytest.mark.timeout(180)
def test_cells_run_in_a_real_kernel() -> None:
    nbformat = pytest.importorskip("nbformat", reason="the dev extra installs nbformat")
    nbclient = pytest.importorskip("nbclient", reason="the dev extra installs nbclient")
    cells = [
        "from fbp.graph import Graph, run\nfrom fbp.testing import ListSink",
        "g = Graph('numbers')\ng.add_process('Count', 'core/Range')\n"
        "g.add_process('Kept', ListSink)\ng.connect('Count.OUT', 'Kept.IN')\n"
        "g.add_initial(3, 'Count.COUNT')",
        "result = run(g)\nresult",
        "result.outputs['Kept']",
        # A causal answer: HTML tables, and a picture shown inline.
        "import os, tempfile\nfrom fbp.tracing import TraceWriter\n"
        "from fbp.causal import shift_between\nd = tempfile.mkdtemp()\n"
        "for name, s in (('b', {}), ('a', {'Complexity.BUG': True})):\n"
        "    with TraceWriter(os.path.join(d, name + '.trace')) as sink:\n"
        "        run('networks/insurance_claims.fbp', set_values=s, trace=sink)",
        "answer = shift_between('networks/insurance_claims.fbp', os.path.join(d, 'b.trace'),"
        " os.path.join(d, 'a.trace'), 'Payout.OUT', n_bootstrap=0)\nanswer",
        "answer.plot()",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()
    shown = nb.cells[2].outputs[0]["data"]
    assert "<table>" in shown["text/html"]
    assert nb.cells[3].outputs[0]["data"]["text/plain"] == "[0, 1, 2]"
    answer = nb.cells[5].outputs[-1]["data"]["text/html"]
    assert "<table>" in answer and "Complexity.SIMPLE.fired" in answer
    assert any("image/png" in out.get("data", {}) for out in nb.cells[6].outputs)
