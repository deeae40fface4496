"""What the wheel holds: every package, the standard library, the example networks and
their data, so that the examples work after a plain (non-editable) ``pip install``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_package_list_names_every_package_folder() -> None:
    tool = PYPROJECT["tool"]["setuptools"]
    dirs = tool["package-dir"]
    listed = set(tool["packages"])
    for package, folder in dirs.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            name = ".".join((package, *rel.parts))
            assert name in listed, f"{init.parent} is not in [tool.setuptools] packages"


def test_the_light_extras_leave_dowhy_out() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert not any("dowhy" in r for r in extras["causal-fast"])
    assert any("dowhy" in r for r in extras["causal"])
    assert "fbp-causal[causal-fast]" in extras["causal"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the sources (the work tree stays clean)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("fbp", "components", "networks"):
        shutil.copytree(
            ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.so")
        )
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert r.returncode == 0, r.stderr
    (found,) = out.glob("*.whl")
    return found


@pytest.mark.timeout(300)
def test_the_wheel_holds_the_examples_and_their_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for net in (ROOT / "networks").glob("*.fbp"):
        assert f"fbp/_networks/{net.name}" in names
    for data in (ROOT / "networks" / "data").iterdir():
        assert f"fbp/_networks/data/{data.name}" in names
    assert "fbp_components/examples/Double.fbp" in names
    assert "fbp/py.typed" in names


@pytest.mark.timeout(300)
def test_a_copied_example_runs_from_the_installed_wheel(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)  # what an installer puts in site-packages
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}

    def fbp(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "fbp", *argv],
            cwd=work, capture_output=True, text=True, env=env, timeout=120, check=False,
        )

    where = subprocess.run(
        [sys.executable, "-c", "import fbp; print(fbp.__file__)"],
        cwd=work, capture_output=True, text=True, env=env, timeout=60, check=True,
    )
    assert where.stdout.startswith(str(site)), "the test must use the wheel's files"
    r = fbp("examples", "--copy", ".")
    assert r.returncode == 0, r.stderr
    r = fbp("run", "networks/wordcount.fbp")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == '{"word": "a", "count": 2}'
