"""Shared fixtures and markers.

- ``capacity``: behavioural tests run at several channel capacities.
- ``execution``: network tests run fused (the default), unfused, fused without the
  optional C port paths, and with them but waiting on channels in Python.
- ``@pytest.mark.node``: the test runs a reference tool of the FBP ecosystem (the npm
  ``fbp`` parser, ``flowtrace-show``, ``fbp-test``) and so needs Node.js and
  ``npm ci --prefix tests/npm``. Without them such tests are skipped, all under one line
  of the summary that names what is missing; with ``FBP_REQUIRE_NODE=1`` in the
  environment (CI sets it) they fail instead, so that CI cannot skip them silently.
- SIGINT: tests send Ctrl-C to child ``fbp`` processes. A pytest started as a background
  job (``&``, ``nohup``) has SIGINT ignored, and an ignored signal stays ignored across
  ``exec``, so the children would never see it. Here pytest restores Python's default
  handler; a handled signal is reset to its default in every child it starts.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

NPM = Path(__file__).resolve().parent / "npm"

if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(params=[0, 1, 3, 32], ids=lambda c: f"cap{c}")
def capacity(request: pytest.FixtureRequest) -> int:
    """Edge capacities where back-pressure bugs like to hide."""
    return int(request.param)


def _node_missing() -> str | None:
    """Why the Node-based reference tools cannot run here, or None when they can."""
    if shutil.which("node") is None:
        return "Node.js is not on PATH"
    if not (NPM / "node_modules").is_dir():
        return "tests/npm/node_modules is missing (run `npm ci --prefix tests/npm`)"
    return None


_NODE_MISSING = _node_missing()


def _compiled_missing() -> str | None:
    """Why the compiled code (fbp._core's C paths, the trace splitter) is not in use
    here, or None when it is."""
    from fbp._core import _fast
    from fbp.tracing import _chunks

    if os.environ.get("FBP_NO_ACCEL", "") not in ("", "0"):
        return "the compiled paths are off (FBP_NO_ACCEL)"
    why = _fast.unavailable()
    if why is not None:
        return why
    if _chunks.split is _chunks.split_python:
        return "the C splitter fbp.tracing._split is not built"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip (or, where Node is required, fail) a ``node`` test before its fixtures run;
    skip a ``compiled`` test where the compiled code it tests is not in use (CI's pass on
    the pure-Python paths deselects them with ``-m 'not compiled'``)."""
    if item.get_closest_marker("compiled") is not None:
        missing = _compiled_missing()
        if missing is not None:
            pytest.skip(missing)
    if _NODE_MISSING is None or item.get_closest_marker("node") is None:
        return
    if os.environ.get("FBP_REQUIRE_NODE", "") not in ("", "0"):
        pytest.fail(f"FBP_REQUIRE_NODE is set but {_NODE_MISSING}", pytrace=False)
    # One place raises the skip, so pytest's summary folds every such test into one line.
    pytest.skip(f"needs the reference npm tools: {_NODE_MISSING}")


def _execution_modes() -> list[str]:
    """The ways a network can run here (fused only where fusion is on; the compiled
    paths only where they are built and not turned off)."""
    from fbp._core import _fast, _fuse

    if not _fuse.enabled():
        return ["unfused"]
    modes = ["fused", "unfused", "fused-python"]
    if _fast.unavailable() is None:
        modes += ["fused-python-waits", "fused-loops-as-written"]
    return modes


@pytest.fixture(params=_execution_modes())
def execution(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every way a network can run: its processes stepped by one scheduler (the
    default) or by the event loop; without the optional C port paths; with them but
    waiting on channels in Python; with them but receive loops run as written (not
    compiled, see fbp._core._loops)."""
    from fbp._core import _fast, _port_variants

    mode = str(request.param)
    if mode == "unfused":
        monkeypatch.setenv("FBP_NO_FUSE", "1")
    if mode == "fused-loops-as-written":  # the C port paths, receive loops not compiled
        monkeypatch.setenv("FBP_NO_LOOPS", "1")
    if mode == "fused-python-waits":
        from fbp._core import _fastports  # type: ignore[attr-defined]

        _fastports.set_waits(False)
        try:
            yield mode
        finally:
            _fastports.set_waits(True)
        return
    if mode != "fused-python":
        yield mode
        return
    monkeypatch.setattr(_port_variants, "_put", None)
    _fast.uninstall()
    try:
        yield mode
    finally:
        _fast.install()


@pytest.fixture(scope="session")
def ray_backend():  # type: ignore[no-untyped-def]
    """One local Ray (two CPUs, three actors reused by every run) for the whole session."""
    pytest.importorskip("ray", reason="the Ray backend's tests need the 'ray' extra")
    from fbp.ray import RayBackend

    with RayBackend(num_cpus=2, hosts=3) as backend:
        yield backend
