"""The public API stays small and light: tuple __all__ everywhere, no heavy imports."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest

PUBLIC = [
    "fbp",
    "fbp.graph",
    "fbp.tracing",
    "fbp.causal",
    "fbp.causal.testing",
    "fbp.testing",
    "fbp.protocol",
    "fbp.lowlevel",
    "fbp.ray",
    "fbp_components.core",
    "fbp_components.io",
    "fbp_components.flow",
    "fbp_components.math",
    "fbp_components.examples",
    "fbp_components.scenarios",
]


@pytest.mark.parametrize("name", PUBLIC)
def test_public_modules_declare_a_tuple_all_covering_their_names(name: str) -> None:
    mod = importlib.import_module(name)
    exported = mod.__all__
    assert isinstance(exported, tuple)
    for attr in exported:
        assert hasattr(mod, attr), f"{name}.__all__ names {attr!r}, which is missing"
    own = [
        n
        for n, v in vars(mod).items()
        if not n.startswith("_")
        and (inspect.isclass(v) or inspect.isfunction(v))
        and getattr(v, "__module__", "").startswith(name)
    ]
    assert set(own) <= set(exported), set(own) - set(exported)


def test_import_fbp_stays_light() -> None:
    code = (
        "import sys, fbp, fbp.graph, fbp.tracing, fbp.causal; "
        "print(sorted(m for m in ('dowhy', 'pandas', 'sklearn', 'networkx', 'websockets')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
