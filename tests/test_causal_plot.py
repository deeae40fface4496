"""Causal answers as pictures (``.plot()``, ``--plot FILE``) and as notebook HTML."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="needs the plot extra: pip install 'fbp-causal[plot]'")

from matplotlib.image import imread

from fbp.causal import anomaly, fit, influence, shift, whatif, worst

ROOT = Path(__file__).resolve().parent.parent
NETWORK = ROOT / "networks" / "insurance_claims.fbp"
FINDING = np.array([0xC4, 0x4E, 0x52]) / 255  # the red of findings in _plot.py


def fbp(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fbp", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("plot")
    out = {}
    for name, extra in {"before": [], "after": ["--set", "Complexity.BUG=true"]}.items():
        out[name] = folder / f"{name}.trace"
        proc = fbp("run", str(NETWORK), "--trace", str(out[name]), *extra)
        assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def data(traces: dict[str, Path]) -> Any:
    from fbp.causal import tables

    return tables(NETWORK, [traces["before"], traces["after"]])


def picture(path: Path) -> np.ndarray:
    """The PNG's pixels as RGB floats, checked to be a picture and not an empty canvas."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = imread(path)[:, :, :3]
    height, width = pixels.shape[:2]
    assert width >= 600 and height >= 300
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # text, bars, axes
    return np.asarray(pixels)


def share_of(pixels: np.ndarray, rgb: np.ndarray) -> float:
    return float(np.mean(np.all(np.abs(pixels - rgb) < 0.02, axis=2)))


def test_shift_plot_from_the_cli_shows_the_culprit_as_a_finding(
    traces: dict[str, Path], tmp_path: Path
) -> None:
    png = tmp_path / "shift.png"
    proc = fbp(
        "causal", "shift", str(NETWORK), "--before", str(traces["before"]),
        "--after", str(traces["after"]), "--target", "Payout.OUT", "--bootstrap", "5",
        "--plot", str(png),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Complexity" in proc.stdout  # the table is printed as without --plot
    assert f"picture written to {png}" in proc.stderr
    assert share_of(picture(png), FINDING) > 0.01  # the culprit's bars, in red


def test_a_picture_that_cannot_be_written_is_a_clear_error(
    traces: dict[str, Path], tmp_path: Path
) -> None:
    target = tmp_path / "missing" / "shift.png"
    proc = fbp(
        "causal", "shift", str(NETWORK), "--before", str(traces["before"]),
        "--after", str(traces["after"]), "--target", "Payout.OUT", "--bootstrap", "0",
        "--plot", str(target),
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: cannot write the picture '{target}'")
    assert "Traceback" not in proc.stderr


def test_every_answer_draws_and_renders_as_html(data: Any, tmp_path: Path) -> None:
    graph, (before, after) = data.graph, data.frames
    target = "Payout.OUT"
    shifted = shift(graph, before, after, target, n_bootstrap=5)
    model = fit(graph, before)
    root = next(n for n in graph if graph.in_degree(n) == 0 and before[n].std() > 0)
    predicted = whatif(model, {root: float(before[root].mean() + before[root].std())}, target)
    strengths = influence(model, target)
    odd = anomaly(model, after.loc[worst(model, after, target, n=2).index], target)

    for name, result in {
        "shift": shifted,
        "whatif": predicted,
        "influence": strengths,
        "anomaly": odd,
    }.items():
        path = tmp_path / f"{name}.png"
        figure = result.plot(path)
        assert figure.axes  # the Figure is returned, for notebooks
        picture(path)
        page = result._repr_html_()
        assert page.count("<table>") >= 1 and "<script" not in page
        assert target in page or "Payout" in page
    # The HTML tables carry the same rows as the text tables.
    assert shifted.ranking.variables[0].node in shifted._repr_html_()
    assert "effect" in predicted._repr_html_()
    comparison = predicted.compare_with(after[target])
    predicted.plot(tmp_path / "rerun.png", rerun=comparison)
    assert share_of(picture(tmp_path / "rerun.png"), FINDING) > 0  # the re-run's mean line


def test_html_escapes_what_it_shows(data: Any) -> None:
    shifted = shift(data.graph, *data.frames, "Payout.OUT", n_bootstrap=0)
    page = shifted._repr_html_()
    text = shifted.table()
    assert "'Payout.OUT'" in text and "&#x27;Payout.OUT&#x27;" in page
