"""``fbp replay`` and ``fbp causal replay-shift``: recorded inputs through new code.

::

    fbp replay NETWORK --trace BEFORE --swap PROC=module:Class [--set P.PORT=JSON]
               [--trace-out FILE] [--target P.PORT[.field]] [--repeat N]
               [--check-units N|all]
    fbp causal replay-shift NETWORK --trace BEFORE --swap ... [--set ...]
               --target P.PORT[.field]

Exit codes: 0 success, 2 bad usage or a replay that cannot be made (an unreadable
trace, a port the trace kept no payloads for, an unknown target), 1 an invalid graph or
a re-executed process that failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ...cli._args import add_json

__all__ = ("add_parser", "add_shift_parser")


def _change_options(p: argparse.ArgumentParser, *, swap_help: str) -> None:
    p.add_argument("network", help="the graph file (.fbp, .json, .yaml) that made the trace")
    p.add_argument(
        "--trace",
        required=True,
        metavar="BEFORE",
        help="the recorded run: a trace file, or FILE@RUN_ID (the latest run by default)",
    )
    p.add_argument(
        "--swap",
        action="append",
        default=[],
        metavar="PROC=module:Class",
        help=swap_help,
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="P.PORT=JSON",
        dest="set_values",
        help="give an input port this value on the recorded inputs (repeatable)",
    )
    p.add_argument("--unit", metavar="P.PORT", help="the source port whose IPs are the units")
    p.add_argument("--trace-out", metavar="FILE", help="keep the replay's trace in FILE")
    add_json(p)
    from ...cli._common import add_plot_option

    add_plot_option(p)


def add_parser(sub: Any) -> None:
    """Add ``replay`` to the command parser."""
    from ._api import CHECK_UNITS

    p = sub.add_parser(
        "replay",
        help="re-run a recorded run's inputs through swapped components or other values",
        description="Re-execute only the swapped processes (and those given a --set value)"
        " and everything downstream of them, on the inputs recorded in BEFORE: every other"
        " stream is fed from the trace in its recorded order. The new trace keeps BEFORE's"
        " units of work, so the runs compare unit by unit.",
    )
    _change_options(
        p,
        swap_help="run process PROC with this component class (module:Class, or a"
        " collection path such as scenarios/ScoreV2); repeatable",
    )
    p.add_argument("--target", metavar="P.PORT[.field]", help="compare this output unit by unit")
    p.add_argument(
        "--repeat",
        type=int,
        default=2,
        help="replay this many times and compare, to tell whether the new code is"
        " deterministic (1 skips the check)",
    )
    p.add_argument(
        "--check-units",
        type=_check_units,
        default=str(CHECK_UNITS),
        metavar="N|all",
        help=f"the repeats replay and compare the first N units of work (default"
        f" {CHECK_UNITS}); 'all' replays every unit each time",
    )
    p.set_defaults(func=_replay)


def add_shift_parser(cs: Any) -> None:
    """Add ``replay-shift`` to the ``causal`` subcommands."""
    p = cs.add_parser(
        "replay-shift",
        help="the exact share of each swapped component in a change, by real replays",
        description="Attribute the change of the target between old and new code to each"
        " part of the change (each --swap and --set) by Shapley over real replays of the"
        " recorded inputs (2^k - 1 replays for k parts, sharing prefixes): per unit and on"
        " the mean, with no model and no regression error.",
    )
    _change_options(p, swap_help="one part of the change: run PROC with this class; repeatable")
    p.add_argument("--target", required=True, metavar="P.PORT[.field]", help="a numeric output")
    p.add_argument(
        "--no-check",
        action="store_true",
        help="do not replay the whole change once more from the record (the determinism check)",
    )
    p.set_defaults(func=_replay_shift)


def _split(items: list[str]) -> dict[str, str]:
    from ...cli._common import CliError

    out: dict[str, str] = {}
    for item in items:
        proc, sep, cls = item.partition("=")
        if not sep or not proc.strip() or not cls.strip():
            msg = f"--swap {item!r}: write --swap PROC=module:Class"
            raise CliError(msg)
        out[proc.strip()] = cls.strip()
    return out


def _call(fn: Any) -> Any:
    """Call ``fn``, turning the layers' errors into CLI errors."""
    from ..._core._exceptions import FbpError, GraphError
    from ...cli._common import CliError
    from ...tracing import TraceError
    from ._run import ReplayError

    try:
        return fn()
    except (ReplayError, TraceError) as e:
        raise CliError(str(e)) from None
    except (GraphError, FbpError) as e:
        raise CliError(str(e), code=1) from None
    except FileNotFoundError as e:
        raise CliError(str(e)) from None


def _emit(result: Any, args: argparse.Namespace) -> None:
    from ...cli._common import write_plot

    write_plot(result, args.plot)
    if args.json:
        print(json.dumps(result.to_dict(), default=str))
    else:
        sys.stdout.write(str(result).rstrip("\n") + "\n")


def _change(args: argparse.Namespace, fn: Any, **options: Any) -> int:
    """Call ``fn`` (``replay`` or ``replay_shift``) on the recorded run and the change
    that ``args`` give (the options both commands take), plus ``options``; print its
    result."""
    from ...cli._common import load, parse_set, trace_ref

    graph = load(args.network)
    path, run = trace_ref(args.trace)
    result = _call(
        lambda: fn(
            graph,
            path,
            run=run,
            swap=_split(args.swap),
            set_values=parse_set(args.set_values),
            trace_out=args.trace_out,
            target=args.target,
            unit=args.unit,
            **options,
        )
    )
    _emit(result, args)
    return 0


def _replay(args: argparse.Namespace) -> int:
    from ._api import replay

    return _change(args, replay, repeat=args.repeat, check_units=args.check_units)


def _check_units(text: str) -> int | None:
    """``--check-units``: a count, or ``all``."""
    if text.strip().lower() == "all":
        return None
    try:
        return int(text.replace(",", "").replace("_", ""))
    except ValueError:
        msg = f"{text!r}: give a number of units or 'all'"
        raise argparse.ArgumentTypeError(msg) from None


def _replay_shift(args: argparse.Namespace) -> int:
    from ._shift import replay_shift

    return _change(args, replay_shift, check=not args.no_check)
