"""Every snippet of README.md and docs/ runs, or is marked as an excerpt.

Each page runs in a fresh copy of ``networks/``, its fenced blocks in page order:

- ``python``: executed, the page's blocks one after another in one namespace (a later
  block may use what an earlier one defined);
- ``sh``: every ``fbp`` / ``python -m fbp`` (or ``python -m pytest``) command runs and
  must succeed; a block with any other command must be an excerpt;
- ``fbp``, ``json``, ``yaml``: parsed; a graph (it has ``processes``) is loaded and its
  components must exist;
- ``sql``: run against the trace files the page's commands wrote;
- ``toml``: parsed;
- ``text``: shown output or a sketch, not checked.

A block with ``file=PATH`` in its info string (```` ```python file=shop.py ````) is a
file of the reader's project: it is written to PATH (and a graph is checked), not run.

An excerpt is marked in the fence's info string, ```` ```python excerpt ````: a function
signature, a server that runs until stopped, part of a larger program. README.md's shell
blocks are run by tests/test_readme.py instead (its first block, the install, is what
.ci/run does).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from fbp.graph import Registry, loads_graph

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CHECKED = {"python", "sh", "fbp", "json", "yaml", "sql", "toml"}
SHOWN = {"text"}
FBP_COMMAND = re.compile(r"^(?:\.venv/bin/)?(?:python3? -m (?:fbp|pytest)|fbp)\s")


@dataclass
class Block:
    page: Path
    line: int
    lang: str
    excerpt: bool
    text: str
    file: str | None = None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    found: list[Block] = []
    lines = page.read_text().splitlines(keepends=True)
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\S*)(.*)$", lines[i])
        if not m:
            i += 1
            continue
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1
        flags = m.group(2).split()
        file = next((f.partition("=")[2] for f in flags if f.startswith("file=")), None)
        found.append(Block(page, start + 1, m.group(1), "excerpt" in flags, "".join(body), file))
    return found


def test_every_block_says_its_language() -> None:
    for page in PAGES:
        for b in blocks(page):
            assert b.lang in CHECKED | SHOWN, f"{b.where}: fence ```{b.lang}: use one of" + (
                f" {sorted(CHECKED | SHOWN)}"
            )


def commands(text: str) -> list[str]:
    """The command lines of a shell block (comments dropped, continuations joined)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    out = []
    for line in joined.splitlines():
        line = re.split(r"\s+#\s", line, maxsplit=1)[0].strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


class Page:
    """Runs the blocks of one page in order, in a copy of the example networks."""

    def __init__(self, where: Path) -> None:
        self.where = where
        shutil.copytree(ROOT / "networks", where / "networks")
        self.namespace: dict[str, Any] = {"__name__": "__docs__"}

    def python(self, b: Block) -> None:
        code = compile(b.text, b.where, "exec")
        if str(self.where) not in sys.path:
            sys.path.insert(0, str(self.where))  # as for a script run in that directory
        with contextlib.chdir(self.where), contextlib.redirect_stdout(io.StringIO()):
            exec(code, self.namespace)

    def sh(self, b: Block) -> None:
        for cmd in commands(b.text):
            assert FBP_COMMAND.match(cmd), (
                f"{b.where}: {cmd!r} is not an fbp command; mark the block ```sh excerpt"
            )
            words = shlex.split(cmd)
            if words[0] == "fbp":
                words = ["python", "-m", *words]
            argv = [sys.executable, *words[1:]]
            path = os.pathsep.join([str(self.where), str(ROOT / "tests")])
            r = subprocess.run(
                argv, cwd=self.where, capture_output=True, text=True, timeout=300, check=False,
                env={**os.environ, "PYTHONPATH": path},
            )
            assert r.returncode == 0, f"{b.where}: {cmd}\n{r.stdout}\n{r.stderr}"

    def write(self, b: Block) -> None:
        assert b.file is not None
        path = self.where / b.file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(b.text)

    def graph(self, b: Block, data: Any) -> None:
        if not (isinstance(data, dict) and "processes" in data):
            return
        fmt = {"json": "json", "yaml": "yaml"}.get(b.lang, "fbp")
        g = loads_graph(b.text, fmt, source=b.where)  # type: ignore[arg-type]
        registry = Registry()
        for node in g.processes.values():
            if isinstance(node.component, str):
                registry.resolve(node.component, base_dir=self.where)

    def sql(self, b: Block) -> None:
        traces = sorted(self.where.glob("*.trace"))
        assert traces, f"{b.where}: no trace file to run the query on"
        with contextlib.closing(sqlite3.connect(traces[0])) as con:
            con.execute(b.text).fetchall()

    def run(self, b: Block) -> None:
        if b.excerpt or b.lang in SHOWN:
            return
        if b.file is not None:
            self.write(b)
        if b.lang == "python":
            if b.file is None:
                self.python(b)
        elif b.lang == "sh":
            if b.page.name != "README.md":
                self.sh(b)
        elif b.lang == "fbp":
            self.graph(b, {"processes": True})
        elif b.lang == "json":
            self.graph(b, json.loads(b.text))
        elif b.lang == "yaml":
            self.graph(b, yaml.safe_load(b.text))
        elif b.lang == "sql":
            self.sql(b)
        elif b.lang == "toml":
            tomllib.loads(b.text)

    def close(self) -> None:
        """Forget the modules the page's files defined, and its directory on sys.path."""
        where = str(self.where)
        for name, mod in list(sys.modules.items()):
            if str(getattr(mod, "__file__", None) or "").startswith(where):
                del sys.modules[name]
        sys.path[:] = [p for p in sys.path if not p.startswith(where)]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_the_snippets_of_the_page_run(page: Path, tmp_path: Path) -> None:
    runner = Page(tmp_path)
    try:
        for b in blocks(page):
            try:
                runner.run(b)
            except AssertionError:
                raise
            except Exception as e:
                msg = f"{b.where}: ```{b.lang} block: {type(e).__name__}: {e}"
                pytest.fail(msg, pytrace=False)
    finally:
        runner.close()
