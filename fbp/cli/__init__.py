"""The command line: ``fbp COMMAND ...`` (or ``python -m fbp COMMAND ...``).

Commands: ``run``, ``validate``, ``show``, ``convert``, ``components``, ``examples``,
``trace``, ``replay``, ``causal``, ``runtime`` and ``otlp``. Exit codes, the same for
every command: 0 done, 1 a process failed (or another failure while working), 2 bad
input or usage (a graph, a ``--set`` value, a file, a question that cannot be asked;
a command whose optional layer is not installed), 3 deadlock, 130 interrupted by
Ctrl-C, 143 by SIGTERM. A closed standard output (``fbp run ... | head -1``) is a
normal end: 0, quietly.

Adding a command
----------------
A command lives in a module of its own, which :data:`COMMANDS` names beside the
command's one-line help; the command line imports only the module of the command it
runs (``fbp --help`` imports none, and ``fbp trace summary`` does not pay for the
runtime, the causal layer or the protocol server)::

    Command("replay", "fbp.causal._replay._cli:add_parser",
            "re-run a recorded run's inputs through swapped components or other values")

The function is called with the command parser's subparsers (``sub``) and adds the
command with ``sub.add_parser(NAME, help=..., description=...)``, its arguments and
``set_defaults(func=handler)``; ``handler(args)`` returns the exit code. One function
may add several commands: each is entered in :data:`COMMANDS` with the same function,
and only the one that runs is kept. The help given to ``add_parser`` must be the one
in :data:`COMMANDS` (a test holds them together).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

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

__all__ = ("COMMANDS", "CliError", "Command", "build_parser", "main")


class Command(NamedTuple):
    """A command of the command line: its name, where it is defined, its help line."""

    #: What the user types: ``fbp NAME ...``.
    name: str
    #: ``"module:function"``: the function that adds the command (see the module's doc).
    target: str
    #: The one-line help ``fbp --help`` lists, the same the function gives ``add_parser``.
    help: str


#: Every command, in the order ``fbp --help`` lists them.
COMMANDS: tuple[Command, ...] = (
    Command("run", "fbp.cli._run:add_run_command", "run a network to its end"),
    Command("validate", "fbp.cli._graphs:add_graph_commands", "check a network without running it"),
    Command("show", "fbp.cli._graphs:add_graph_commands", "draw a network as text, DOT or mermaid"),
    Command(
        "convert",
        "fbp.cli._graphs:add_graph_commands",
        "convert a network between .fbp, JSON and YAML",
    ),
    Command(
        "components", "fbp.cli._graphs:add_graph_commands", "list the components that can be used"
    ),
    Command(
        "examples",
        "fbp.cli._graphs:add_graph_commands",
        "list the example networks, or copy them to try them",
    ),
    Command("trace", "fbp.tracing._cli:add_parser", "inspect and export recorded IPs"),
    Command(
        "replay",
        "fbp.causal._replay._cli:add_parser",
        "re-run a recorded run's inputs through swapped components or other values",
    ),
    Command(
        "causal",
        "fbp.causal._cli:add_parser",
        "fit the network's causal model on traces and query it",
    ),
    Command(
        "runtime",
        "fbp.cli._runtime:add_parser",
        "serve the FBP network protocol (for noflo-ui/Flowhub, fbp-test and fbp-spec)",
    ),
    Command(
        "otlp",
        "fbp.observe._cli:add_parser",
        "send a traced run to an OpenTelemetry collector (OTLP/HTTP)",
    ),
)


class _Version(argparse.Action):
    """``--version``: the version is looked up only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(version_text())
        parser.exit()


class _Only:
    """A command parser's subparsers that keep one command: a function adding several
    commands adds the others to parsers that are thrown away."""

    def __init__(self, sub: Any, name: str) -> None:
        self._sub = sub
        self._name = name

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        if name == self._name:
            parser: argparse.ArgumentParser = self._sub.add_parser(name, **kwargs)
            return parser
        return argparse.ArgumentParser(prog=name, add_help=False)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._sub, attr)


def _adder(command: Command) -> Callable[[Any], object]:
    """The function that adds ``command`` (importing its module).

    Raises:
        ImportError: the module, or a library it needs, is not installed.
    """
    module, _, function = command.target.partition(":")
    adder: Callable[[Any], object] = getattr(importlib.import_module(module), function)
    return adder


def build_parser(
    prog: str = "fbp", commands: Iterable[str] | None = None
) -> argparse.ArgumentParser:
    """The argument parser of the command line, named ``prog`` in its help.

    Args:
        prog: the program's name in help and usage texts.
        commands: the commands to build in full (their modules are imported); the
            others are listed with their help and accept any arguments. ``None``: every
            command whose module can be imported, the others left out.

    Raises:
        ImportError: a module of ``commands`` (or a library it needs) is missing.
    """
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run, check and inspect flow-based networks; trace them and ask causal"
        " questions of the traces.",
        epilog=f"'{prog} COMMAND --help' tells more of each command.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action=_Version, help="show program's version number and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    full = None if commands is None else set(commands)
    for command in COMMANDS:
        if full is not None and command.name not in full:
            sub.add_parser(command.name, help=command.help, add_help=False)
            continue
        try:
            add = _adder(command)
        except ImportError:
            if full is not None:
                raise
            continue
        add(_Only(sub, command.name))
        if command.name not in sub.choices:
            msg = f"{command.target} did not add the command {command.name!r}"
            raise RuntimeError(msg)
    finish_parsers(parser)
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = "fbp") -> int:
    """Run the command line; return the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    # ``--help``, ``--version``, a bare command line and an unknown command are answered
    # by a parser that lists the commands without importing any; then only the command
    # named is built in full.
    lister = build_parser(prog, commands=())
    named = lister.parse_known_args(argv)[0].command
    if named is None:  # a bare `fbp` asks for help
        lister.print_help()
        return 0
    try:
        parser = build_parser(prog, commands=(named,))
    except ImportError as e:  # the command's layer is not installed
        hint = missing_extra(e, f"{prog} {named}")
        if hint is None:
            raise
        print(f"error: {hint}", file=sys.stderr)
        return EXIT_BAD_INPUT
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
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
