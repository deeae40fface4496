"""The causal layer's public face and its import cost."""

from __future__ import annotations

import subprocess
import sys

import pytest

import fbp.causal


def test_public_names_are_a_tuple_and_exist() -> None:
    assert isinstance(fbp.causal.__all__, tuple)
    assert sorted(fbp.causal.__all__) == list(fbp.causal.__all__)
    for name in fbp.causal.__all__:
        assert getattr(fbp.causal, name) is not None


def _heavy_modules_after(statement: str) -> str:
    code = (
        f"import sys\n{statement}\n"
        "heavy = [m for m in ('dowhy', 'sklearn', 'pandas', 'scipy') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_importing_the_causal_layer_is_cheap() -> None:
    assert _heavy_modules_after("import fbp, fbp.causal") == ""


def test_queries_import_dowhy_only_when_they_need_it() -> None:
    assert _heavy_modules_after("from fbp.causal import shift") == "pandas,scipy"


def test_a_missing_dependency_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import networkx as nx
    import pandas as pd

    from fbp.causal import fit

    monkeypatch.setitem(sys.modules, "dowhy.gcm", None)
    frame = pd.DataFrame({"A.OUT": range(30), "B.OUT": range(30)}, dtype=float)
    with pytest.raises(
        ImportError,
        match=r"^fbp\.causal needs 'dowhy\.gcm', which is not installed; install the causal "
        r"extra: pip install 'fbp-causal\[causal\]'$",
    ):
        fit(nx.DiGraph([("A.OUT", "B.OUT")]), frame)
