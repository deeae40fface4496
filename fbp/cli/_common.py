"""Shared pieces of the command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from .._core._exceptions import GraphError

__all__ = (
    "EXIT_BAD_INPUT",
    "EXIT_DEADLOCK",
    "EXIT_FAILED",
    "EXIT_OK",
    "CliError",
    "HelpFormatter",
    "add_plot_option",
    "configure_logging",
    "exit_code_of",
    "finish_parsers",
    "load",
    "missing_extra",
    "parse_set",
    "version_text",
    "write_plot",
)

DISTRIBUTION = "fbp-causal"

# The optional libraries, by the extra that installs them.
_EXTRA_OF = {
    "pandas": "trace",
    "numpy": "causal",
    "scipy": "causal",
    "sklearn": "causal",
    "dowhy": "causal",
    "threadpoolctl": "causal",
    "websockets": "runtime",
    "matplotlib": "plot",
}


#: The exit codes of every command: done; a process failed (or another failure while
#: working); bad input or usage (a graph, a --set value, a file, a question that cannot
#: be asked); a deadlock. Interrupted runs exit 128 + the signal: 130 (Ctrl-C), 143
#: (SIGTERM).
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_DEADLOCK = 0, 1, 2, 3


class CliError(Exception):
    """A command-line error: printed as ``error: ...`` with the exit code."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


class _CurrentStderr:
    """Whatever ``sys.stderr`` is when a log line is written (the live view replaces it
    while it runs, and prints what is written there above itself)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def exit_code_of(exc: BaseException) -> int:
    """The exit code for an error a command did not handle itself."""
    from .._core._exceptions import (
        CausalModelError,
        DeadlockError,
        GraphError,
        NetworkError,
        NetworkInterrupted,
    )

    if isinstance(exc, DeadlockError):
        return EXIT_DEADLOCK
    if isinstance(exc, NetworkInterrupted):
        return 130
    if isinstance(exc, NetworkError):
        return EXIT_FAILED
    if isinstance(exc, GraphError | CausalModelError | OSError):
        return EXIT_BAD_INPUT
    name = type(exc).__name__  # the trace store's errors, without importing it
    if name in ("TraceFileError", "TraceLookupError"):
        return EXIT_BAD_INPUT
    return EXIT_FAILED


def _add_context(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Adds a record's bound context and keywords (``fbp_context``) as fields."""
    record = event.get("_record")
    event.update(getattr(record, "fbp_context", None) or {})
    return event


def configure_logging(fmt: str = "auto", level: str = "warning") -> None:
    """Send fbp's logs to stderr: console on a terminal, JSON lines otherwise."""
    import structlog

    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    handler = logging.StreamHandler(_CurrentStderr())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso"),
                _add_context,
            ],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    logger = logging.getLogger("fbp")
    for h in list(logger.handlers):
        if not isinstance(h, logging.NullHandler):
            logger.removeHandler(h)
    logger.addHandler(handler)
    logger.setLevel(getattr(logging, level.upper(), logging.WARNING))
    logger.propagate = False


def load(path: str) -> Any:
    """Load a graph file for a command, turning failures into CliErrors."""
    from ..graph import load_graph

    try:
        return load_graph(Path(path))
    except GraphError as e:
        raise CliError(str(e)) from None


def parse_set(items: list[str] | None) -> dict[str, Any]:
    """Parse ``--set PROC.PORT=JSON`` options.

    A value that is not JSON is a string (``--set R.FILENAME=data.txt``), unless it
    starts like a JSON object, list or string (``{``, ``[``, ``"``): then it must be
    valid JSON, nested at most as deeply as a graph file's values.
    """
    from ..graph._load import MAX_DEPTH

    out: dict[str, Any] = {}
    for item in items or []:
        addr, sep, raw = item.partition("=")
        if not sep or not addr.strip():
            msg = f"--set {item!r}: write --set PROC.PORT=VALUE (VALUE as JSON)"
            raise CliError(msg)
        strict = raw.lstrip().startswith(("{", "[", '"'))
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as e:
            if strict:
                msg = (
                    f"--set {addr.strip()}: {raw!r} is not valid JSON ({e.msg} at column"
                    f" {e.colno}); fix it, or quote it to give the text as it is:"
                    f" --set '{addr.strip()}=\"...\"'"
                )
                raise CliError(msg) from None
            value = raw
        except (ValueError, RecursionError) as e:  # too deep, or a number too long
            msg = f"--set {addr.strip()}: the value cannot be read: {str(e).splitlines()[0]}"
            raise CliError(msg) from None
        if _depth(value) > MAX_DEPTH:
            msg = f"--set {addr.strip()}: the value nests more than {MAX_DEPTH} levels deep"
            raise CliError(msg)
        out[addr.strip()] = value
    return out


def version_text() -> str:
    """``fbp --version``: the distribution's version, and the Python that runs it."""
    from importlib.metadata import PackageNotFoundError, version

    from .. import __version__

    try:
        v = version(DISTRIBUTION)
    except PackageNotFoundError:  # running from a source tree that is not installed
        v = __version__
    return f"fbp {v} ({DISTRIBUTION}, Python {sys.version.split()[0]})"


def _shown(default: Any) -> bool:
    """Whether a default says something (not None, False, an empty list or suppressed)."""
    return not (
        default is None or default is False or default == [] or default is argparse.SUPPRESS
    )


class HelpFormatter(argparse.HelpFormatter):
    """Help that shows each option's default, unless it is empty or already said."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text.lower() or not _shown(action.default) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)".strip()


def finish_parsers(parser: argparse.ArgumentParser) -> None:
    """Give every (sub)command the common help style, a description and shown defaults.

    A command added without a description gets its one-line help as description; an
    option without help text still shows its default; a command that loads a network
    (or lists components) gets ``--path DIR``, the component search path.
    """
    parser.formatter_class = HelpFormatter
    names = {a.dest for a in parser._actions}
    if ("network" in names or parser.prog.endswith(" components")) and "path" not in names:
        parser.add_argument(
            "--path",
            action="append",
            metavar="DIR",
            default=[],
            help="also look for component modules in DIR, after the graph's directory"
            " (repeatable; FBP_PATH and [tool.fbp] path in pyproject.toml add more)",
        )
    for action in parser._actions:
        if action.help is None and action.option_strings and _shown(action.default):
            action.help = "(default: %(default)s)"
        elif action.help is None and action.dest == "network":
            action.help = "the graph file (.fbp, .json, .yaml)"
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                if not sub.description and helps.get(name):
                    text = str(helps[name])
                    sub.description = text[0].upper() + text[1:] + "."
                finish_parsers(sub)


def missing_extra(error: ImportError, command: str) -> str | None:
    """The message for a command that needs an optional library that is not installed.

    Returns None when ``error`` is not about an optional library (a real bug).
    """
    name = (getattr(error, "name", None) or "").split(".")[0]
    extra = _EXTRA_OF.get(name)
    if extra is None:
        # fbp's own optional layers raise ImportErrors that already say what to install.
        text = str(error)
        return text if "pip install" in text else None
    verb = command.split()[-1]
    if verb in ("causal", "trace", "runtime"):
        extra = verb
    return (
        f"'{command}' needs the Python package {name!r}, which is not installed;"
        f" install it with: pip install '{DISTRIBUTION}[{extra}]'"
    )


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict | list):
            deepest = max(deepest, d)
            stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return deepest


def add_plot_option(p: argparse.ArgumentParser) -> None:
    """``--plot FILE``, the same for every command whose answer has a picture."""
    p.add_argument(
        "--plot",
        metavar="FILE",
        help="also draw the answer into FILE (.png, .svg or .pdf; needs matplotlib:"
        " pip install 'fbp-causal[plot]')",
    )


def write_plot(result: Any, path: str | None, **kwargs: Any) -> None:
    """Draw ``result`` into ``path`` (``--plot FILE``), if one is given.

    Without matplotlib, the ImportError names the extra to install; a file that cannot
    be written is a :class:`CliError` naming it.
    """
    if not path:
        return
    try:
        result.plot(path, **kwargs)
    except (OSError, ValueError) as e:
        msg = f"cannot write the picture {path!r}: {e}"
        raise CliError(msg) from None
    print(f"picture written to {path}", file=sys.stderr)


def trace_ref(text: str) -> tuple[str, str | None]:
    """Split a trace argument ``FILE`` or ``FILE@RUN_ID`` into the file and the run id
    (None: the latest run), as every command that reads a recorded run takes it."""
    path, sep, run = text.rpartition("@")
    return (path, run) if sep and path else (text, None)


def print_error(error: object, code: int) -> int:
    """Print ``error`` as every command prints one (``error: ...`` on stderr) and return
    ``code``, for a command that stops there with that exit code."""
    print(f"error: {error}", file=sys.stderr)
    return code
