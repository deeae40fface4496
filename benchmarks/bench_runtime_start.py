"""How soon ``python -m fbp runtime`` serves: from exec to accepting connections.

Run: ``python benchmarks/bench_runtime_start.py`` (``--repeats N``, default 15;
``--compare DIR`` also measures the runtime of another checkout of fbp, e.g. one made
with ``git archive main | tar -x -C DIR``, interleaved with this one).

Protocol tools start the runtime and connect right after its first line of output
(``fbp-spec`` waits 100 ms after it, and assumes the runtime is up after 300 ms with no
output at all). For each repeat this measures, from the ``exec`` of the process:

- ``line``: the listening line is read from its standard output;
- ``accept``: a TCP connection to its port is accepted;
- ``reply``: a WebSocket client has connected and had ``runtime:getruntime`` answered
  (the server is fully loaded).

Two baselines are measured in the same run, interleaved with it, as the machine is
shared and noisy: ``python -c pass`` (the interpreter alone) and
``python -c "import fbp"`` (the package every ``python -m fbp`` command loads first),
each from exec to exit. Medians are reported, with each as a ratio to the first
baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time

from websockets.sync.client import connect


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _exit_time(code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - t0


def _runtime(checkout: str | None = None) -> dict[str, float]:
    port = _free_port()
    env = dict(os.environ)
    if checkout is not None:
        env["PYTHONPATH"] = checkout
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fbp", "runtime", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=checkout,  # -m puts the working directory first on sys.path
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        line = time.perf_counter() - t0
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.001)
        accept = time.perf_counter() - t0
        with connect(f"ws://127.0.0.1:{port}/", subprotocols=["noflo"]) as ws:  # type: ignore[list-item]
            ws.send(json.dumps({"protocol": "runtime", "command": "getruntime", "payload": {}}))
            json.loads(ws.recv())
        reply = time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait()
    return {"line": line, "accept": accept, "reply": reply}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--compare", metavar="DIR", help="another checkout of fbp to measure")
    args = parser.parse_args()
    samples: dict[str, list[float]] = {}
    for _ in range(args.repeats):  # interleaved: each repeat measures everything once
        samples.setdefault("python -c pass", []).append(_exit_time("pass"))
        samples.setdefault('python -c "import fbp"', []).append(_exit_time("import fbp"))
        for key, value in _runtime().items():
            samples.setdefault(f"runtime {key}", []).append(value)
        if args.compare:
            for key, value in _runtime(args.compare).items():
                samples.setdefault(f"compared {key}", []).append(value)
    base = statistics.median(samples["python -c pass"])
    print(f"{args.repeats} repeats, interleaved; medians (the machine may be shared)")
    print(f"{'measure':<26} {'median ms':>10} {'min ms':>8} {'x python':>9}")
    for name, values in samples.items():
        med = statistics.median(values)
        print(f"{name:<26} {med * 1000:>10.1f} {min(values) * 1000:>8.1f} {med / base:>9.2f}")


if __name__ == "__main__":
    main()
