"""The examples of docs/causal.md run and print what the page shows."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "causal.md"


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_first_example_runs_and_prints_the_documented_table() -> None:
    example = _blocks("python")[0]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(example, str(DOC), "exec"), {})
    shown = _blocks("text")[0].rstrip("\n").splitlines()
    printed = out.getvalue().splitlines()
    assert printed[: len(shown)] == shown
