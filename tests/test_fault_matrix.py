"""The fault matrix: every way a run can go wrong, run as users and attackers run it.

Each case runs ``python -m fbp ...`` (or the protocol runtime) in a subprocess and
asserts the exit code, the message (the element, the place and the fix), that no
traceback reaches the user, and that it ends within a bounded time (a generous
timeout guards against hangs; speed is measured in benchmarks/, not here).
"""

from __future__ import annotations

import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from anyio.abc import Process

ROOT = Path(__file__).resolve().parent.parent

#: Seconds within which every case must end (a guard against hangs, not a speed test).
BOUND = 30


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FBP_EXPR", "FBP_PROTO"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), str(ROOT)])
    env.update(extra)
    return env


# -- expressions through the protocol runtime ------------------------------------------------


@asynccontextmanager
async def runtime(**env: str) -> AsyncIterator[tuple[Process, str]]:
    """``python -m fbp runtime`` on a free port: (process, url)."""
    cmd = [sys.executable, "-m", "fbp", "runtime", "--port", "0"]
    proc = await anyio.open_process(cmd, env=_env(**env), cwd=ROOT)
    try:
        assert proc.stdout is not None
        line = b""
        with anyio.fail_after(BOUND):
            while not line.endswith(b"\n"):
                line += await proc.stdout.receive(1)
        m = re.search(r"ws://\S+/", line.decode())
        assert m is not None, line
        yield proc, m.group(0)
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.aclose()


@pytest.mark.parametrize(
    "expr",
    ["len(str([[0]*9999999]*9999999))", "len(sum([[0]*9999999]*100, []))", "str([[x]*3000]*3000)"],
)
async def test_a_costly_expression_is_refused_and_the_runtime_stays_responsive(expr: str) -> None:
    pytest.importorskip("websockets", reason="the protocol runtime needs the runtime extra")
    from protocol.fbpclient import Peer, build
    from websockets.asyncio.client import connect

    async with runtime() as (proc, url):
        async with (
            connect(url, subprotocols=["noflo"]) as wa,
            connect(  # type: ignore[list-item]
                url,
                subprotocols=["noflo"],  # type: ignore[list-item]
            ) as wb,
        ):
            editor, other = Peer(wa, None), Peer(wb, None)
            spec = {
                "nodes": {"Gen": "core/Range", "M": "flow/Map", "D": "core/Drop"},
                "edges": [("Gen.out", "M.in"), ("M.out", "D.in")],
                "iips": [(1000, "Gen.count"), (expr, "M.expr")],
            }
            await build(editor, "g", spec)
            await editor.send("network", "start", {"graph": "g"})
            # Another client is answered while the network runs and fails.
            for _ in range(5):
                info = await other.request("runtime", "getruntime")
                assert info["payload"]["type"] == "fbp-causal"
            err = await editor.expect("network", "processerror")
            text = err["payload"]["error"]
            assert err["payload"]["id"] == "M"
            assert "ExpressionLimitError" in text and "more than the limit" in text
            assert "raise the limit (FBP_EXPR_TIME in seconds, FBP_EXPR_MEMORY in MiB)" in text
            await editor.expect("network", "stopped")
            info = await other.request("runtime", "getruntime")
            assert info["payload"]["type"] == "fbp-causal"
        proc.send_signal(signal.SIGTERM)
        with anyio.fail_after(BOUND):
            assert await proc.wait() == 0
