"""``python -m fbp run NETWORK --backend ray [--address ADDR]``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

import anyio

from .._core._exceptions import DeadlockError, GraphError, NetworkError
from .._core._network import RunResult
from ..cli._common import CliError

__all__ = ("run_on_ray",)


def run_on_ray(
    args: argparse.Namespace,
    graph: Any,
    set_values: dict[str, Any],
    sink: Any,
    report: Callable[[RunResult, argparse.Namespace, str], None],
) -> int:
    """Run the network on Ray and report as ``fbp run`` does; return the exit code."""
    try:
        import ray  # noqa: F401
    except ImportError:
        msg = "--backend ray needs Ray: pip install 'fbp-causal[ray]'"
        raise CliError(msg) from None
    from ._driver import RayBackend

    backend = RayBackend(args.address)
    outcome: dict[str, Any] = {}

    async def main() -> None:
        from ..cli._run import _on_sigterm

        async with anyio.create_task_group() as tg:
            tg.start_soon(_on_sigterm, tg.cancel_scope, outcome)
            try:
                await backend.run(
                    graph,
                    set_values=set_values,
                    capacity=args.capacity,
                    validate=not args.no_validate,
                    trace=sink,
                )
            except NetworkError as e:
                outcome["error"] = e
            finally:
                tg.cancel_scope.cancel()

    try:
        anyio.run(main)
    except KeyboardInterrupt:
        outcome["interrupted"] = True
    except GraphError as e:
        raise CliError(str(e), code=1) from None
    finally:
        if sink is not None:
            sink.close()
        backend.close()
    result = backend.last_result
    if result is None:  # stopped before it started
        return 130 if outcome.get("interrupted") else 1
    if outcome.get("interrupted"):
        report(result, args, "interrupted")
        print(
            f"interrupted: network {result.name!r} stopped cleanly after {result.ips} IPs"
            + (f"; trace kept in {args.trace}" if args.trace else ""),
            file=sys.stderr,
        )
        return 130
    err = outcome.get("error")
    if err is not None:
        report(result, args, result.status)
        print(f"error: {err}", file=sys.stderr)
        if args.trace:
            print(f"the trace of the run up to the failure is in {args.trace}", file=sys.stderr)
        return 3 if isinstance(err, DeadlockError) else 1
    report(result, args, "completed")
    return 0
