"""``fbp replay`` and ``fbp causal replay-shift`` as users run them, and the pictures
of their answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NETWORK = "networks/ml_pipeline.fbp"


def fbp(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    return subprocess.run(
        [sys.executable, "-m", "fbp", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def before(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("replay") / "before.trace"
    r = fbp("run", NETWORK, "--trace", str(path), "--set", "Ingest.N=400")
    assert r.returncode == 0, r.stderr
    return path


def test_replay_prints_what_changed_and_keeps_the_trace(before: Path, tmp_path: Path) -> None:
    out = tmp_path / "after.trace"
    r = fbp(
        "replay",
        NETWORK,
        "--trace",
        str(before),
        "--swap",
        "Model=scenarios/ScoreV2",
        "--target",
        "Revenue.OUT",
        "--trace-out",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    assert "with Model=scenarios/ScoreV2" in r.stdout
    assert "executed: Model, Decide, Revenue, Done" in r.stdout
    assert "held:     Ingest, Clean, Features" in r.stdout
    assert "target Revenue.OUT, 400 units (Ingest.OUT)" in r.stdout
    assert "deterministic: 2 repeats gave the same outputs" in r.stdout
    # The kept trace is a run like any other: the trace command reads it.
    s = fbp("trace", "summary", str(out), "--json")
    assert s.returncode == 0, s.stderr


def test_replay_what_if_on_recorded_inputs_as_json(before: Path) -> None:
    r = fbp(
        "replay",
        NETWORK,
        "--trace",
        str(before),
        "--set",
        "Decide.THRESHOLD=0.5",
        "--target",
        "Revenue.OUT",
        "--repeat",
        "1",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["executed"] == ["Decide", "Revenue", "Done"]
    assert d["set_values"] == {"Decide.THRESHOLD": 0.5}
    assert d["deterministic"] is None
    assert d["target"]["units"] == 400
    assert d["target"]["change"] == pytest.approx(
        d["target"]["mean_after"] - d["target"]["mean_before"]
    )


def test_replay_shift_attributes_the_change_exactly(before: Path, tmp_path: Path) -> None:
    png = tmp_path / "shift.png"
    r = fbp(
        "causal",
        "replay-shift",
        NETWORK,
        "--trace",
        str(before),
        "--swap",
        "Model=scenarios/ScoreV2",
        "--swap",
        "Clean=scenarios/CleanV2",
        "--target",
        "Revenue.OUT",
        "--json",
        "--plot",
        str(png),
    )
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert {c["part"] for c in d["contributions"]} == {"Model", "Clean"}
    total = sum(c["value"] for c in d["contributions"])
    assert total == pytest.approx(d["change"], rel=1e-12, abs=1e-9)
    assert len(d["coalitions"]) == 4 and d["deterministic"] is True
    _check_png(png)


def test_bad_requests_exit_2_with_one_line(before: Path, tmp_path: Path) -> None:
    r = fbp("replay", NETWORK, "--trace", str(before), "--swap", "Model")
    assert r.returncode == 2 and "write --swap PROC=module:Class" in r.stderr
    r = fbp("replay", NETWORK, "--trace", str(tmp_path / "none.trace"), "--swap", "Model=x:Y")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = fbp("replay", NETWORK, "--trace", str(before), "--swap", "Model=scenarios/Nope")
    assert r.returncode == 2 and "swap Model=scenarios/Nope" in r.stderr
    r = fbp("replay", NETWORK, "--trace", str(before), "--swap", "Modle=scenarios/ScoreV2")
    assert r.returncode == 1 and "did you mean 'Model'?" in r.stderr
    r = fbp("causal", "replay-shift", NETWORK, "--trace", str(before), "--target", "Revenue.OUT")
    assert r.returncode == 2 and "a change of 0 parts" in r.stderr


def _check_png(path: Path) -> None:
    """A real picture: a PNG of a readable size with more than one colour in it."""
    pytest.importorskip("matplotlib", reason="plots need the plot extra (matplotlib)")
    import matplotlib.image

    img = matplotlib.image.imread(path)
    assert img.shape[0] >= 200 and img.shape[1] >= 600
    assert len({tuple(px) for px in img.reshape(-1, img.shape[2])[::97].tolist()}) > 5


def test_replay_plot(before: Path, tmp_path: Path) -> None:
    png = tmp_path / "replay.png"
    r = fbp(
        "replay",
        NETWORK,
        "--trace",
        str(before),
        "--swap",
        "Model=scenarios/ScoreV2",
        "--target",
        "Revenue.OUT",
        "--repeat",
        "1",
        "--plot",
        str(png),
    )
    assert r.returncode == 0, r.stderr
    _check_png(png)


def test_replay_checks_determinism_on_a_sample_of_the_units(before: Path) -> None:
    args = ("replay", NETWORK, "--trace", str(before), "--swap", "Model=scenarios/ScoreV2")
    r = fbp(*args, "--check-units", "50", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["deterministic"] is True and d["checked_units"] == 50
    r = fbp(*args, "--check-units", "all", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["checked_units"] is None
    r = fbp(*args, "--check-units", "some")
    assert (
        r.returncode == 2 and "--check-units: 'some': give a number of units or 'all'" in r.stderr
    )
