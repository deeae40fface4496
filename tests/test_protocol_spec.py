"""The ecosystem's component test tool, fbp-spec (npm), passes its specs on our runtime.

``tests/specs/*.yaml`` hold fbp-spec suites for the core, flow and math collections
(their documented examples, as specs): each fixture graph exports ports, fbp-spec sends
packets into the running network through them (``runtime:packet``) and checks what
comes out. The runtime is started here as a user would (``python -m fbp runtime``);
fbp-spec connects to it once it has printed its listening line.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.node  # runs a reference tool from tests/npm

ROOT = Path(__file__).resolve().parent.parent
NPM = ROOT / "tests" / "npm"
FBP_SPEC = NPM / "node_modules" / "fbp-spec" / "bin" / "fbp-spec"
SPECS = ROOT / "tests" / "specs"

#: fbp-spec waits without end for an output that never comes; this bounds a run.
TIMEOUT = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def runtime(*args: str) -> Iterator[str]:
    """``python -m fbp runtime`` on a free port; yields its address, stops it after."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "FBP_PROTOCOL_SECRET"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fbp", "runtime", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("fbp runtime listening on"), line + proc.stderr.read()  # type: ignore[union-attr]
        yield f"ws://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def fbp_spec(address: str, suites: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH; fbp-spec needs Node.js 18 or newer")
    if not FBP_SPEC.exists():
        pytest.fail("fbp-spec is not installed: run `npm ci --prefix tests/npm`")
    return subprocess.run(
        [node, str(FBP_SPEC), "--address", address, "--command-timeout", "10", str(suites)],
        cwd=NPM,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def cases_in(folder: Path) -> int:
    return sum(
        len(suite["cases"])
        for path in sorted(folder.glob("*.yaml"))
        for suite in yaml.safe_load_all(path.read_text())
        if suite
    )


def test_the_specs_of_the_core_flow_and_math_components_pass() -> None:
    topics = {
        suite["topic"].split("/")[0]
        for path in SPECS.glob("*.yaml")
        for suite in yaml.safe_load_all(path.read_text())
        if suite
    }
    assert topics == {"core", "flow", "math"}
    with runtime() as address:
        done = fbp_spec(address, SPECS)
    report = done.stdout[-8000:] + done.stderr[-2000:]
    assert done.returncode == 0, report
    assert "✗" not in done.stdout, report
    assert done.stdout.count("✓") == cases_in(SPECS), report


def test_a_wrong_expectation_fails_the_spec_run(tmp_path: Path) -> None:
    (tmp_path / "wrong.yaml").write_text(
        """
name: "a spec that must fail"
topic: "core/Repeat"
fixture:
  type: 'fbp'
  data: |
    INPORT=R.IN:IN
    OUTPORT=R.OUT:OUT
    R(core/Repeat)
cases:
  - name: 'one'
    assertion: 'is not two'
    inputs: { in: 1 }
    expect: { out: { equals: 2 } }
  - name: 'three'
    assertion: 'is three'
    inputs: { in: 3 }
    expect: { out: { equals: 3 } }
"""
    )
    with runtime() as address:
        done = fbp_spec(address, tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert re.search(r"is not two: ✗ Error: expected 1 to deeply equal 2", done.stdout), done.stdout
    assert "is three: ✓" in done.stdout
