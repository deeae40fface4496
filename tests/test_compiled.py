"""The optional compiled modules: a broken build is reported, a missing one is not an
error, and the choice of the Python paths is silent."""

from __future__ import annotations

import sys
import sysconfig
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from fbp._core import _compiled


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An importable package ``fake_fbp_ext`` in a fresh folder."""
    root = tmp_path / "fake_fbp_ext"
    root.mkdir()
    (root / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("FBP_NO_ACCEL", raising=False)
    yield root
    for name in [m for m in sys.modules if m.startswith("fake_fbp_ext")]:
        del sys.modules[name]


def test_a_built_module_that_cannot_be_loaded_warns_with_the_fix(package: Path) -> None:
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    (package / f"_broken{suffix}").write_bytes(b"not a shared object")  # as a bad build
    with pytest.warns(RuntimeWarning) as caught:
        assert _compiled.load("fake_fbp_ext._broken") is None
    text = str(caught[0].message)
    assert "fake_fbp_ext._broken is built but cannot be loaded" in text
    assert "pip install --force-reinstall" in text and "FBP_NO_ACCEL=1" in text
    assert _compiled._why["fake_fbp_ext._broken"].startswith("built but cannot be loaded")


def test_a_module_not_built_is_no_error_and_says_so(package: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _compiled.load("fake_fbp_ext._absent") is None
    assert _compiled._why["fake_fbp_ext._absent"] == "not built"


def test_a_dependency_missing_inside_a_module_is_a_real_error(package: Path) -> None:
    (package / "_needs.py").write_text("import fake_fbp_ext_dependency_nowhere\n")
    with pytest.raises(ModuleNotFoundError, match="fake_fbp_ext_dependency_nowhere"):
        _compiled.load("fake_fbp_ext._needs")


def test_the_python_paths_chosen_are_silent(package: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    (package / f"_broken{suffix}").write_bytes(b"not a shared object")
    monkeypatch.setenv("FBP_NO_ACCEL", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _compiled.load("fake_fbp_ext._broken") is None
    assert _compiled._why["fake_fbp_ext._broken"] == "turned off by FBP_NO_ACCEL"


def test_a_loadable_module_is_returned(package: Path) -> None:
    (package / "_fine.py").write_text("VALUE = 7\n")
    module = _compiled.load("fake_fbp_ext._fine")
    assert module is not None and module.VALUE == 7
    assert _compiled._why["fake_fbp_ext._fine"] == ""


def test_a_build_of_older_sources_is_stale(
    package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A module that loads but was built from sources of another API (an editable
    install not rebuilt after an update) warns as a broken build, rather than failing
    later where the Python side calls what it lacks."""
    (package / "_old.py").write_text("API = 1\n")
    (package / "_new.py").write_text("API = 2\n")
    monkeypatch.setitem(_compiled._API, "fake_fbp_ext._old", 2)
    monkeypatch.setitem(_compiled._API, "fake_fbp_ext._new", 2)
    with pytest.warns(RuntimeWarning, match="built from other sources") as caught:
        assert _compiled.load("fake_fbp_ext._old") is None
    assert "API 1, these sources need 2" in str(caught[0].message)
    assert _compiled.load("fake_fbp_ext._new") is not None


@pytest.mark.compiled
def test_every_compiled_module_of_this_build_is_in_use() -> None:
    assert _compiled.status() == dict.fromkeys(_compiled.MODULES, "")
