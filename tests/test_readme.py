"""The README's commands run as written, and the causal walkthrough gives its answer.

Each command is a test of its own, run in order in one shared copy of ``networks/``; a
command that needs files an earlier one writes (a trace, a model) runs those first when
it is selected alone. Each has a generous time limit: the causal commands take seconds on
an idle machine and many times that on a loaded one.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
PREFIX = ".venv/bin/python -m fbp"


def commands() -> list[str]:
    """The ``python -m fbp`` commands of the README's shell blocks, in order."""
    blocks = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
    lines = [ln.split("  #")[0].strip() for b in blocks[1:] for ln in b.splitlines()]
    return [ln for ln in lines if ln.startswith(PREFIX)]


COMMANDS = commands()


class Workspace:
    """A copy of the example networks where the README's commands run, each at most once."""

    def __init__(self, where: Path) -> None:
        self.where = where
        shutil.copytree(ROOT / "networks", where / "networks")
        self.outputs: dict[str, subprocess.CompletedProcess[str]] = {}

    def run(self, cmd: str) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` (and, first, every README command before it that has not run)."""
        for earlier in COMMANDS[: COMMANDS.index(cmd)]:
            if earlier not in self.outputs:
                self._run(earlier)
        return self.outputs.get(cmd) or self._run(cmd)

    def _run(self, cmd: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, *shlex.split(cmd)[1:]]
        env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
        r = subprocess.run(
            argv, cwd=self.where, capture_output=True, text=True, env=env, timeout=540, check=False
        )
        self.outputs[cmd] = r
        return r


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("readme"))


def test_the_first_two_commands_install_run_and_test() -> None:
    first = re.search(r"```sh\n(.*?)```", README, flags=re.S)
    assert first is not None
    lines = [ln for ln in first.group(1).splitlines() if ln and not ln.startswith("#")]
    assert lines[0].endswith(f"{PREFIX} run networks/scaling.fbp")
    assert "pip install -e '.[all]'" in lines[0]
    assert lines[1].endswith(".venv/bin/python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text()
    assert "npm ci --prefix tests/npm" in ci and "python -m pytest" in ci


def test_the_readme_has_its_commands() -> None:
    assert len(COMMANDS) >= 15
    assert len(set(COMMANDS)) == len(COMMANDS), "a repeated command would run only once"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: c.removeprefix(PREFIX).strip())
def test_readme_command_runs(workspace: Workspace, cmd: str) -> None:
    r = workspace.run(cmd)
    assert r.returncode == 0, f"{cmd}\n{r.stdout}\n{r.stderr}"
    if cmd.endswith("run networks/scaling.fbp"):
        assert r.stdout == '{"sensor":"t1","value":5.0}\n'
    if "causal shift" in cmd:
        by_process = r.stdout.split("by process", 1)[1].splitlines()
        first = next(ln for ln in by_process if ln.startswith("1 "))
        assert first.split()[1] == "Complexity"
        assert first.rstrip().endswith("*")
        significant = [ln for ln in by_process if ln.rstrip().endswith("*")]
        assert len(significant) == 1


@pytest.mark.timeout(600)
def test_readme_whatif_rerun_lands_inside_its_predicted_interval(workspace: Workspace) -> None:
    cmd = next(c for c in COMMANDS if " whatif " in c and "--rerun" in c)
    for earlier in COMMANDS[: COMMANDS.index(cmd)]:
        assert workspace.run(earlier).returncode == 0, earlier
    r = workspace._run(f"{cmd} --json")
    assert r.returncode == 0, f"{cmd} --json\n{r.stdout}\n{r.stderr}"
    answer = json.loads(r.stdout)
    predicted, rerun = answer["predicted"], answer["rerun"]
    assert predicted["ci_low"] <= predicted["mean"] <= predicted["ci_high"]
    assert answer["effect_ci_low"] <= answer["effect"] <= answer["effect_ci_high"]
    # The interval the re-run's mean is held to: the prediction's, widened by the
    # run's own sampling error (never narrower than the prediction's).
    low, high = rerun["interval_low"], rerun["interval_high"]
    assert low <= predicted["ci_low"] and predicted["ci_high"] <= high
    assert low <= rerun["observed_mean"] <= high, rerun
    assert rerun["within_interval"] is True
    assert rerun["warnings"] == []
