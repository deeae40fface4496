"""The command line: ``fbp COMMAND ...`` (or ``python -m fbp COMMAND ...``).

Commands: ``run``, ``validate``, ``show``, ``convert``, ``components``, and, when their
layers are installed, ``trace``, ``causal`` and ``runtime``. Exit codes, the same for
every command: 0 done, 1 a process failed (or another failure while working), 2 bad
input or usage (a graph, a ``--set`` value, a file, a question that cannot be asked),
3 deadlock, 130 interrupted by Ctrl-C, 143 by SIGTERM. A closed standard output (``fbp
run ... | head -1``) is a normal end: 0, quietly.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .._core._exceptions import FbpError
from ._common import (
    EXIT_BAD_INPUT,
    CliError,
    HelpFormatter,
    exit_code_of,
    finish_parsers,
    missing_extra,
    version_text,
)
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
    for module in (
        "fbp.tracing._cli",
        "fbp.causal._replay_cli",
        "fbp.causal._cli",
        "fbp.cli._runtime",
        "fbp.observe._cli",
    ):
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
        return _stdout_closed()
    except FbpError as e:  # a layer's error the command left to this table
        print(f"error: {e}", file=sys.stderr)
        return exit_code_of(e)
    except OSError as e:  # a file given on the command line that cannot be used
        if e.filename is None:
            raise
        print(f"error: {e.filename}: {e.strerror or e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code


def _stdout_closed() -> int:
    """End quietly when whoever reads standard output has gone (``| head -1``)."""
    import os

    # Python would complain when it flushes stdout at exit: point it at /dev/null.
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)
    return 0
