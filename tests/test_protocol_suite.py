"""The FBP ecosystem's own compliance suite (``fbp-test`` from npm fbp-protocol) passes.

The suite starts ``python -m fbp runtime`` itself, from the committed configuration
``tests/protocol/fbp-config.json`` with this interpreter and a free port filled in, and
is judged by its exit code. It runs with and without a secret.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.node  # runs a reference tool from tests/npm

ROOT = Path(__file__).resolve().parent.parent
NPM = ROOT / "tests" / "npm"
FBP_TEST = NPM / "node_modules" / ".bin" / "fbp-test"
CONFIG = ROOT / "tests" / "protocol" / "fbp-config.json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("secret", [None, "suite-secret"], ids=["open", "with-secret"])
def test_the_fbp_protocol_suite_passes(tmp_path: Path, secret: str | None) -> None:
    if not FBP_TEST.exists():
        pytest.fail(
            "the fbp-protocol suite is not installed (tests/npm/node_modules is missing):"
            " run `npm ci --prefix tests/npm`"
        )
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH; the fbp-protocol suite needs Node.js 18 or newer")
    config = json.loads(CONFIG.read_text())
    port = _free_port()
    # `exec` makes the runtime the process the suite stops, not the shell around it.
    config["command"] = (
        f"exec {shlex.quote(sys.executable)} -m fbp runtime --host 127.0.0.1 --port {port}"
    )
    config["port"] = port
    (tmp_path / "fbp-config.json").write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if k != "FBP_PROTOCOL_SECRET"}
    env["PROJECT_HOME"] = str(tmp_path)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    if secret is not None:
        env["FBP_PROTOCOL_SECRET"] = secret
    done = subprocess.run(
        [node, str(FBP_TEST)],
        cwd=NPM,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = done.stdout[-6000:] + done.stderr[-2000:]
    assert done.returncode == 0, report
    assert "22 passing" in done.stdout, report
    assert "failing" not in done.stdout, report
