"""The exception tree is drawn once, in fbp._core._exceptions, and the drawing is true."""

from __future__ import annotations

import builtins
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import fbp
from fbp._core import _exceptions

ROOT = Path(__file__).resolve().parent.parent

#: Exceptions that never reach a user: each layer handles its own.
INTERNAL = {
    "fbp.protocol._client.ClientTooSlow": "the runtime drops the client that raised it",
    "fbp.protocol._start.StartError": "fbp runtime prints it as a command-line error",
    "fbp.ray._frames.PeerGone": "the Ray link turns it into PeerLost",
}

_LINE = re.compile(r"^(?P<indent>[ │├└─]*)(?P<name>[A-Z]\w+)(?:\s{2,}(?P<text>.*))?$")


def _drawing() -> list[tuple[int, str, str]]:
    """(depth, class name, the text beside it) for every line of every drawn tree."""
    doc = _exceptions.__doc__ or ""
    rows = []
    for block in re.split(r"::\n\n", doc)[1:]:
        for line in block.split("\n\n")[0].splitlines():
            m = _LINE.match(line[4:])
            assert m, f"not a line of a tree: {line!r}"
            rows.append((len(m["indent"]) // 4, m["name"], m["text"] or ""))
    return rows


def _all_exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(fbp.__path__, "fbp."):
        if info.name.startswith("fbp.__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == info.name
                and not name.startswith("_")
            ):
                found[f"{info.name}.{name}"] = value
    return found


def test_the_drawing_has_every_exception_of_every_layer_once() -> None:
    drawn = [name for _, name, _ in _drawing() if not hasattr(builtins, name)]
    assert len(drawn) == len(set(drawn)), "a class is drawn twice"
    classes = _all_exception_classes()
    missing = sorted(
        path
        for path, cls in classes.items()
        if cls.__name__ not in drawn and path not in INTERNAL
    )
    assert not missing, f"exceptions not in the tree of fbp._core._exceptions: {missing}"
    unknown = set(drawn) - {cls.__name__ for cls in classes.values()}
    assert not unknown, f"the tree draws classes that do not exist: {unknown}"


def test_every_class_is_drawn_under_its_real_base_and_importable_where_it_says() -> None:
    by_name = {cls.__name__: cls for cls in _all_exception_classes().values()}
    parents: list[tuple[type[BaseException], str]] = []
    for depth, name, text in _drawing():
        cls = by_name.get(name) or getattr(builtins, name)
        del parents[depth:]
        if parents:
            base = parents[-1][0]
            assert issubclass(cls, base), f"{name} is drawn under {base}"
            assert base in cls.__bases__, f"{name} is not a direct subclass of {base}"
        # A module named beside a class holds its subclasses too, unless they say.
        where = re.match(r"(fbp(?:\.\w+)*): ", text)
        home = where[1] if where else (parents[-1][1] if parents else "fbp")
        parents.append((cls, home))
        if name in by_name:
            module = importlib.import_module(home)
            assert getattr(module, name) is cls, f"{name} is not importable from {home}"
            assert name in module.__all__


def test_the_roots_are_fbperror_python_types_and_the_flow_signals() -> None:
    roots = {name for depth, name, _ in _drawing() if depth == 0}
    assert roots == {"FbpError", "TypeError", "ValueError", "RuntimeError", "Exception"}
    signals = {"EndOfStream", "WouldBlock", "DownstreamClosed"}
    for name in signals:
        assert not issubclass(getattr(fbp, name), fbp.FbpError)


def test_no_other_docstring_draws_a_tree_of_exceptions() -> None:
    names = {cls.__name__ for cls in _all_exception_classes().values()}
    drawings = []
    for path in sorted((ROOT / "fbp").rglob("*.py")):
        if path.name == "_exceptions.py" and path.parent.name == "_core":
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if ("├──" in line or "└──" in line) and any(n in line for n in names):
                drawings.append(f"{path.relative_to(ROOT)}: {line.strip()}")
    assert not drawings, drawings
