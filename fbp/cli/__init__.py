"""The command line: ``python -m fbp COMMAND ...``.

Commands: ``run``, ``validate``, ``show``, ``convert``, ``components``, and, when their
layers are installed, ``trace``, ``causal`` and ``runtime``. Exit codes: 0 success, 1 a
run failed or a graph is invalid, 2 bad usage or unreadable input, 3 deadlock,
130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._common import CliError
from ._graphs import add_graph_commands
from ._run import add_run_command

__all__ = ("main",)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m fbp``."""
    parser = argparse.ArgumentParser(
        prog="python -m fbp",
        description="Run, check and inspect flow-based networks; trace them and ask causal"
        " questions of the traces.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_run_command(sub)
    add_graph_commands(sub)
    for module in ("fbp.tracing._cli", "fbp.causal._cli", "fbp.cli._runtime"):
        try:
            mod = __import__(module, fromlist=["add_parser"])
        except ImportError:
            continue
        add = getattr(mod, "add_parser", None)
        if add is not None:
            add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except CliError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.code
    except BrokenPipeError:
        return 0
    return code
