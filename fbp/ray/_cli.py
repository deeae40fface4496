"""``python -m fbp run NETWORK --backend ray [--address ADDR]``."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import anyio

from .._core._exceptions import DeadlockError, GraphError, NetworkError
from .._core._network import RunResult
from ..cli._common import CliError
from ..cli._signals import SignalStopper

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
    stopper = _Stopper()

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            stopper.running(tg.cancel_scope.cancel)
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

    stopper.install()
    try:
        anyio.run(main)
    except KeyboardInterrupt:
        outcome["interrupted"] = True
    except GraphError as e:
        raise CliError(str(e)) from None  # bad input: exit 2, as every command
    finally:
        stopper.uninstall()
        if sink is not None:
            sink.close()
        backend.close()
    if stopper.signum is not None:
        outcome["interrupted"] = True
    result = backend.last_result
    if result is None:  # stopped before it started
        return stopper.code if outcome.get("interrupted") else 1
    if outcome.get("interrupted"):
        report(result, args, "interrupted")
        print(
            f"interrupted: network {result.name!r} stopped cleanly after {result.ips} IPs"
            + (f"; trace kept in {args.trace}" if args.trace else ""),
            file=sys.stderr,
        )
        return stopper.code
    err = outcome.get("error")
    if err is not None:
        report(result, args, result.status)
        print(f"error: {err}", file=sys.stderr)
        if args.trace:
            print(f"the trace of the run up to the failure is in {args.trace}", file=sys.stderr)
        return 3 if isinstance(err, DeadlockError) else 1
    report(result, args, "completed")
    return 0


class _Stopper(SignalStopper):
    """Signal handling of a run on Ray: the first SIGINT or SIGTERM cancels the job
    (every partition stops, its trace is finished as ``interrupted`` and the actors
    and a local Ray are stopped); a second one ends the process at once, with code
    128 + the signal (the trace keeps every record stored so far)."""

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            print("interrupted: stopping at once", file=sys.stderr)
            sys.stderr.flush()
            os._exit(self.code)
        self.signum = signum
        name = signal.Signals(signum).name
        print(f"\n{name}: stopping the job (again to stop at once)", file=sys.stderr)
        self._request_cancel()
