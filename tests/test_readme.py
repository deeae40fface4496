"""The README's commands run as written, and the causal walkthrough gives its answer."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
    lines = [ln.split("  #")[0].strip() for b in blocks[1:] for ln in b.splitlines()]
    return [ln for ln in lines if ln.startswith(".venv/bin/python -m fbp")]


def test_the_first_two_commands_install_run_and_test() -> None:
    first = re.search(r"```sh\n(.*?)```", README, flags=re.S)
    assert first is not None
    lines = [ln for ln in first.group(1).splitlines() if ln and not ln.startswith("#")]
    assert lines[0].endswith(".venv/bin/python -m fbp run networks/scaling.fbp")
    assert "pip install -e '.[all]'" in lines[0]
    assert lines[1].endswith(".venv/bin/python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text()
    assert "npm ci --prefix tests/npm" in ci and "python -m pytest" in ci


def test_every_readme_command_runs_and_the_walkthrough_finds_the_bug(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "networks", tmp_path / "networks")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    outputs: dict[str, str] = {}
    cmds = commands()
    assert len(cmds) >= 15
    for cmd in cmds:
        argv = [sys.executable, *shlex.split(cmd)[1:]]
        r = subprocess.run(
            argv, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120, check=False
        )
        assert r.returncode == 0, f"{cmd}\n{r.stdout}\n{r.stderr}"
        outputs[cmd] = r.stdout
    scaled = next(v for k, v in outputs.items() if k.endswith("run networks/scaling.fbp"))
    assert scaled == '{"sensor":"t1","value":5.0}\n'
    shift = next(v for k, v in outputs.items() if "causal shift" in k)
    by_process = shift.split("by process", 1)[1].splitlines()
    first = next(ln for ln in by_process if ln.startswith("1 "))
    assert first.split()[1] == "Complexity"
    assert first.rstrip().endswith("*")
    significant = [ln for ln in by_process if ln.rstrip().endswith("*")]
    assert len(significant) == 1
