"""``python -m fbp runtime`` as a process: its one line, signals, refusals, console output."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "FBP_PROTOCOL_SECRET"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


@asynccontextmanager
async def runtime(*args: str, **env: str) -> AsyncIterator[tuple[Process, str, str]]:
    """A runtime process on a free port: (process, url, the line it printed)."""
    cmd = [sys.executable, "-m", "fbp", "runtime", "--port", "0", *args]
    proc = await anyio.open_process(cmd, env=_env(**env), cwd=ROOT)
    try:
        assert proc.stdout is not None
        with anyio.fail_after(20):
            line = b""
            while not line.endswith(b"\n"):
                chunk = await proc.stdout.receive(1)
                line += chunk
        text = line.decode()
        m = re.search(r"ws://\S+/", text)
        assert m is not None, text
        yield proc, m.group(0), text
    finally:
        if proc.returncode is None:
            proc.terminate()
        with anyio.move_on_after(10):
            await proc.wait()
        if proc.returncode is None:
            proc.kill()
        await proc.aclose()


async def _ask(url: str, protocol: str, command: str, payload: dict[str, Any]) -> dict[str, Any]:
    async with connect(url, subprotocols=["noflo"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"protocol": protocol, "command": command, "payload": payload}))
        with anyio.fail_after(10):
            reply: dict[str, Any] = json.loads(await ws.recv())
    return reply


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_it_prints_one_line_serves_and_stops_cleanly_on_a_signal(sig: int) -> None:
    async with runtime() as (proc, url, line):
        assert line.startswith("fbp runtime listening on ws://127.0.0.1:")
        assert "loopback only" in line
        reply = await _ask(url, "runtime", "getruntime", {})
        assert reply["payload"]["type"] == "fbp-causal"
        proc.send_signal(sig)
        with anyio.fail_after(10):
            code = await proc.wait()
        assert code == 0
        assert proc.stdout is not None
        rest = b"".join([chunk async for chunk in proc.stdout])
        assert rest == b""  # only the one line ever reaches standard output


async def test_console_output_of_a_network_goes_to_clients_not_stdout() -> None:
    async with runtime() as (proc, url, _):
        async with connect(url, subprotocols=["noflo"]) as ws:  # type: ignore[list-item]
            for command, payload in [
                ("clear", {"id": "g"}),
                ("addnode", {"id": "Show", "component": "core/Output", "graph": "g"}),
                (
                    "addinitial",
                    {"src": {"data": "hello"}, "tgt": {"node": "Show", "port": "in"}, "graph": "g"},
                ),
            ]:
                await ws.send(
                    json.dumps({"protocol": "graph", "command": command, "payload": payload})
                )
            await ws.send(
                json.dumps({"protocol": "network", "command": "start", "payload": {"graph": "g"}})
            )
            outputs = []
            with anyio.fail_after(10):
                while True:
                    msg = json.loads(await ws.recv())
                    if msg["command"] == "output":
                        outputs.append(msg["payload"]["message"])
                    if msg["command"] == "stopped":
                        break
        assert outputs == ["hello"]
        proc.send_signal(signal.SIGTERM)
        with anyio.fail_after(10):
            assert await proc.wait() == 0
        assert proc.stdout is not None
        assert b"".join([chunk async for chunk in proc.stdout]) == b""


def test_it_refuses_to_listen_beyond_loopback_without_a_secret() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fbp", "runtime", "--host", "0.0.0.0", "--port", "0"],
        env=_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "refusing to listen on 0.0.0.0 without a secret" in done.stderr
    assert "FBP_PROTOCOL_SECRET" in done.stderr


async def test_the_secret_comes_from_the_environment_and_guards_every_command() -> None:
    async with runtime(FBP_PROTOCOL_SECRET="from-env") as (_, url, line):
        assert "secret required" in line
        refused = await _ask(url, "graph", "clear", {"id": "g"})
        assert refused["command"] == "error"
        assert "from-env" not in json.dumps(refused)
        ok = await _ask(url, "graph", "clear", {"id": "g", "secret": "from-env"})
        assert ok["payload"] == {"id": "g"}
