"""The command line's edges: version, help, descriptions, defaults, program name, extras."""

from __future__ import annotations

import argparse
import json
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


def test_the_command_table_gives_each_command_its_help() -> None:
    from fbp.cli import COMMANDS

    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    helps = {a.dest: a.help for a in sub._choices_actions}
    assert list(helps) == [c.name for c in COMMANDS]
    for command in COMMANDS:
        assert helps[command.name] == command.help, command.target


LOADED = """
import json, sys
from fbp.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as e:
    code = e.code
mods = [m for m in sys.modules if m.startswith(("fbp.", "anyio", "structlog", "numpy", "pandas"))]
print(json.dumps({"code": code, "modules": mods}))
"""


def _loaded(argv: list[str]) -> tuple[int, set[str]]:
    r = subprocess.run(
        [sys.executable, "-c", LOADED, *argv],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    got = json.loads(r.stdout.splitlines()[-1])
    return got["code"], set(got["modules"])


def test_only_the_command_that_runs_is_imported() -> None:
    others = ("fbp.cli._run", "fbp.cli._graphs", "fbp.tracing", "fbp.causal", "fbp.protocol",
              "fbp.cli._runtime", "fbp.observe", "anyio", "structlog", "numpy", "pandas")
    for argv in (["--help"], ["--version"], [], ["nope"]):
        code, modules = _loaded(argv)
        assert code == (2 if argv == ["nope"] else 0)
        assert not {m for m in modules if m.startswith(others)}, argv
    code, modules = _loaded(["validate", "networks/hello.fbp"])
    assert code == 0 and "fbp.cli._graphs" in modules  # which loads the runtime
    layers = ("fbp.cli._run", "fbp.tracing", "fbp.causal", "fbp.protocol", "fbp.observe")
    assert not {m for m in modules if m.startswith(layers)}
    code, modules = _loaded(["trace", "--help"])
    assert code == 0 and "fbp.tracing._cli" in modules
    assert not {m for m in modules if m.startswith(others[:2] + others[3:])}


def test_a_command_whose_layer_is_missing_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import fbp.cli as cli

    (tmp_path / "fbp_cli_needs_dowhy.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'dowhy'\", name='dowhy')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    command = cli.Command("needy", "fbp_cli_needs_dowhy:add_parser", "needs dowhy")
    monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, command))
    assert main(["needy", "x"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'fbp-causal[causal]'" in err and "'fbp needy'" in err
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    assert "needy     needs dowhy" in capsys.readouterr().out
