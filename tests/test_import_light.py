"""``import fbp`` (and the runtime it loads) stays light: no console renderer, no rich."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from fbp._core._log import get_logger


def test_import_fbp_loads_neither_rich_nor_structlog_dev() -> None:
    code = (
        "import sys, fbp\n"
        "fbp.Network, fbp.Component\n"
        "import fbp.graph, fbp.tracing\n"
        "names = [m for m in sys.modules if m == 'rich' or m.startswith(('rich.', 'structlog'))]\n"
        "print(sorted(names))\n"
    )
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(out.stdout.replace("'", '"')) == []
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines()}
    assert "rich" not in imported and "structlog.dev" not in imported


def test_log_records_carry_the_bound_context(caplog: pytest.LogCaptureFixture) -> None:
    log = get_logger(process="A").bind(port="OUT")
    with caplog.at_level(logging.INFO, logger="fbp"):
        log.info("sent", count=3)
        log.debug("hidden")
    [record] = caplog.records
    assert record.getMessage() == "sent"
    assert record.fbp_context == {"process": "A", "port": "OUT", "count": 3}


def test_cli_renders_the_context_as_fields(capsys: pytest.CaptureFixture[str]) -> None:
    from fbp.cli._common import configure_logging

    logger = logging.getLogger("fbp")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    try:
        configure_logging("json", "info")
        get_logger(process="A").warning("slow", seconds=2)
        line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    finally:
        logger.handlers[:] = saved[0]
        logger.setLevel(saved[1])
        logger.propagate = saved[2]
    assert line["event"] == "slow" and line["process"] == "A" and line["seconds"] == 2
    assert line["level"] == "warning" and "timestamp" in line
