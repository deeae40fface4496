"""The command line's edges: version, help, descriptions, defaults, program name, extras."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fbp.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(sys.executable).parent / "fbp"


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found.append(sub)
                found.extend(_subparsers(sub))
    return found


def test_version_names_the_distribution(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("fbp 0.") and "fbp-causal" in out


def test_a_bare_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: fbp ")
    for command in ("run", "validate", "show", "convert", "components", "examples"):
        assert f"\n    {command}" in out


def _entries(help_text: str) -> list[str]:
    """The option entries of a help text, one string each."""
    options = help_text.split("\noptions:\n", 1)[1]
    entries: list[str] = []
    for line in options.splitlines():
        if line.startswith("  -"):
            entries.append(line)
        elif entries:
            entries[-1] += " " + line.strip()
    return entries


def test_every_subcommand_has_a_description_and_shows_its_defaults() -> None:
    subs = _subparsers(build_parser())
    assert len(subs) >= 15
    for sub in subs:
        assert sub.description, f"{sub.prog} has no description"
        entries = _entries(sub.format_help())
        for action in sub._actions:
            default = action.default
            if not action.option_strings or default is None or default is False:
                continue
            if default == [] or default == argparse.SUPPRESS:
                continue
            flag = action.option_strings[-1]
            (entry,) = [e for e in entries if f" {flag}" in f" {e.split('  ', 2)[1]}"]
            assert "default" in entry, f"{sub.prog} {flag}: default {default!r} not shown"


def test_choices_and_defaults_read_in_the_help() -> None:
    run = next(s for s in _subparsers(build_parser()) if s.prog == "fbp run")
    text = " ".join(run.format_help().split())
    assert "--progress {auto,on,off}" in text
    assert "(default: 32)" in text or "default 32" in text
    assert "--path DIR" in text


def _fbp(argv: list[str], *, module: bool) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "fbp", *argv] if module else [str(SCRIPT), *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.skipif(not SCRIPT.exists(), reason="the fbp console script is not installed")
def test_the_program_is_named_as_it_was_run() -> None:
    assert _fbp(["run", "--help"], module=False).stdout.startswith("usage: fbp run ")
    as_module = _fbp(["run", "--help"], module=True)
    assert as_module.stdout.startswith("usage: python -m fbp run ")


BLOCK = """
import sys
from fbp.cli import main

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"numpy", "pandas", "scipy", "dowhy", "sklearn"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, Blocker())
raise SystemExit(main(sys.argv[1:]))
"""


def test_causal_commands_without_the_extra_name_it(tmp_path: Path) -> None:
    """As on an install without the causal extra: no traceback, the extra to install."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    trace = tmp_path / "a.trace"
    r = subprocess.run(
        [sys.executable, "-m", "fbp", "run", "networks/hello.fbp", "--trace", str(trace)],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=60, check=False,
    )
    assert r.returncode == 0, r.stderr
    for argv in (
        ["causal", "shift", "networks/hello.fbp", "--before", str(trace), "--after", str(trace),
         "--target", "Show.OUT"],
        ["causal", "fit", "networks/hello.fbp", str(trace), "-o", str(tmp_path / "m")],
    ):
        r = subprocess.run(
            [sys.executable, "-c", BLOCK, *argv],
            cwd=ROOT, capture_output=True, text=True, env=env, timeout=60, check=False,
        )
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr
        assert "pip install 'fbp-causal[causal]'" in r.stderr, r.stderr
