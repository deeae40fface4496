"""docs/design.md stays true: the files it names exist, and the layers import downward."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DESIGN = ROOT / "docs" / "design.md"

#: What each layer may import of fbp, as the table of docs/design.md says.
ALLOWED: dict[str, set[str]] = {
    "fbp._core": set(),
    "fbp.graph": {"fbp._core"},
    "fbp.tracing": {"fbp._core", "fbp.graph"},
    "fbp.causal": {"fbp._core", "fbp.graph", "fbp.tracing"},
    "fbp.protocol": {"fbp._core", "fbp.graph", "fbp.tracing", "fbp._lazy"},
    "fbp.ray": {"fbp._core", "fbp.graph", "fbp.tracing"},
    "fbp.observe": {"fbp._core", "fbp.graph", "fbp.tracing", "fbp.causal"},
    "fbp.testing": {"fbp._core"},
    "fbp": {"fbp._core", "fbp._lazy"},
    "fbp._lazy": set(),
    "fbp.lowlevel": {"fbp._core"},
}


def _layer(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else parts[0]


def _is_cli_face(module: str) -> bool:
    """A layer's command-line face may import fbp.cli's shared helpers."""
    last = module.rsplit(".", 1)[-1]
    return last == "_cli" or last.endswith("_cli") or module == "fbp.protocol._start"


def _imports(path: Path, module: str) -> list[tuple[int, str]]:
    is_pkg = path.name == "__init__.py"
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - (node.level - 1)]
                target = ".".join(anchor + ([node.module] if node.module else []))
                if not node.module:  # from . import x, from .. import y
                    found += [(node.lineno, f"{target}.{a.name}") for a in node.names]
                    continue
            else:
                target = node.module or ""
            found.append((node.lineno, target))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
    return [(line, t) for line, t in found if t == "fbp" or t.startswith("fbp.")]


def _modules() -> list[tuple[Path, str]]:
    out = []
    for path in sorted((ROOT / "fbp").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out.append((path, ".".join(parts)))
    return out


def test_layers_import_only_the_layers_below_them() -> None:
    wrong = []
    for path, module in _modules():
        layer = _layer(module)
        if layer in ("fbp.cli", "fbp.__main__"):
            continue  # the command line imports every layer
        allowed = ALLOWED.get(layer)
        assert allowed is not None, f"{layer} is a layer docs/design.md does not place"
        for line, target in _imports(path, module):
            other = _layer(target)
            if other == layer or other in allowed or target == "fbp":
                continue
            if other in ("fbp._lazy", "fbp.lowlevel") and layer != "fbp._core":
                continue  # the lazy-import helper and the public core interfaces
            if _is_cli_face(module) and (other == "fbp.cli" or _is_cli_face(target)):
                continue
            wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not wrong, "imports against the layer table of docs/design.md:\n" + "\n".join(wrong)


def test_the_standard_library_uses_only_the_public_api() -> None:
    wrong = []
    for path in sorted((ROOT / "components").rglob("*.py")):
        for line, target in _imports(path, "fbp_components._"):
            if target.startswith("fbp._"):
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not wrong, "\n".join(wrong)


_PATH = re.compile(r"`((?:fbp|tests|components|docs|benchmarks|\.ci)/[^`\s]*)`")


def test_every_file_the_design_page_names_exists() -> None:
    named = sorted(set(_PATH.findall(DESIGN.read_text(encoding="utf-8"))))
    assert len(named) > 40  # the page names the files; this is not vacuous
    missing = [p for p in named if "<" not in p and not (ROOT / p).exists()]
    assert not missing, f"docs/design.md names files that do not exist: {missing}"


@pytest.mark.parametrize(
    "name",
    ["Network._wire", "TracedOutPort.send", "TraceWriter.write", "Network.flush_trace"],
)
def test_the_functions_the_design_page_follows_exist(name: str) -> None:
    import fbp._core._network
    import fbp._core._port_variants
    import fbp.tracing._writer

    cls, attr = name.split(".")
    owner = {
        "Network": fbp._core._network.Network,
        "TracedOutPort": fbp._core._port_variants.TracedOutPort,
        "TraceWriter": fbp.tracing._writer.TraceWriter,
    }[cls]
    assert callable(getattr(owner, attr))
    assert name in DESIGN.read_text(encoding="utf-8")


def test_only_the_channel_module_touches_a_channels_private_members() -> None:
    """The channel's rules live in fbp/_core/_channel.py: elsewhere, code reaches a
    channel through its methods (the compiled twins locate its slots by name, in
    fbp/_core/_fast.py, which is not attribute access)."""
    from fbp._core._channel import Channel

    private = {
        name
        for name in (*Channel.__slots__, *vars(Channel))
        if name.startswith("_") and not name.startswith("__")
    }
    assert {"_buf", "_room", "_send_waiters", "_admit_sender"} <= private
    wrong = []
    for path in sorted([*(ROOT / "fbp").rglob("*.py"), *(ROOT / "components").rglob("*.py")]):
        if path == ROOT / "fbp" / "_core" / "_channel.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in private
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
    assert not wrong, "channel internals used outside _channel.py:\n" + "\n".join(wrong)
