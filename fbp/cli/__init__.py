"""The command line: ``fbp COMMAND ...`` (or ``python -m fbp COMMAND ...``).

Commands: ``run``, ``validate``, ``show``, ``convert``, ``components``, and, when their
layers are installed, ``trace``, ``causal`` and ``runtime``. Exit codes: 0 success, 1 a
run failed or a graph is invalid, 2 bad usage or unreadable input, 3 deadlock,
130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._common import CliError, HelpFormatter, finish_parsers, missing_extra, version_text
from ._graphs import add_graph_commands
from ._run import add_run_command

__all__ = ("main",)


def build_parser(prog: str = "fbp") -> argparse.ArgumentParser:
    """The argument parser of the command line, named ``prog`` in its help."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run, check and inspect flow-based networks; trace them and ask causal"
        " questions of the traces.",
        epilog=f"'{prog} COMMAND --help' tells more of each command.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=version_text())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
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
    finish_parsers(parser)
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = "fbp") -> int:
    """Run the command line; return the exit code."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:  # a bare `fbp` asks for help
        parser.print_help()
        return 0
    if getattr(args, "path", None):
        from ..graph._registry import add_search_path

        add_search_path(args.path)
    try:
        code: int = args.func(args)
    except CliError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.code
    except ImportError as e:
        hint = missing_extra(e, f"{prog} {args.command}")
        if hint is None:
            raise
        print(f"error: {hint}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    return code
