"""Support for the DSL tests: the .fbp corpus, the reference parser, graph strategies.

Layout: ``valid/`` holds texts the reference parser (npm ``fbp`` 1.8.0) accepts,
``invalid/`` texts it rejects, ``divergent/`` texts on which we differ from it on
purpose (it keeps processes in plain JavaScript objects, so names such as
``constructor`` or ``__proto__`` hit ``Object.prototype``). ``reference.json`` records
the reference parser's answers for every file in both case modes, so the parse tests
can check the corpus without Node.js; re-record it with::

    .venv/bin/python tests/dsl_corpus/dsl_support.py

A *verdict* is what a parse came to, in a form both parsers can be compared in:
``("accept", canonical JSON)``, ``("syntax", line, column, expected words)`` or
``("graph-error",)`` for texts that parse but name an undeclared process, or a
process without a component.
"""

from __future__ import annotations

import json
import operator
import shutil
import string
import subprocess
import sys
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from fbp._core._exceptions import GraphSyntaxError
from fbp.graph._dsl import expected_words, parse_fbp

CORPUS = Path(__file__).parent
NPM = CORPUS.parent / "npm"
SNAPSHOT = CORPUS / "reference.json"
MODES = {"case_sensitive": True, "case_insensitive": False}

Verdict = tuple[Any, ...]


def corpus_files(*folders: str) -> list[Path]:
    """The corpus files in ``folders`` (default: all), sorted."""
    chosen = folders or ("valid", "invalid", "divergent")
    return sorted(p for folder in chosen for p in (CORPUS / folder).glob("*.fbp"))


def name_of(path: Path) -> str:
    """The corpus name of a file: ``valid/iip_simple.fbp``."""
    return path.relative_to(CORPUS).as_posix()


def read(path: Path) -> str:
    """The file's text, byte for byte (line endings kept)."""
    return path.read_bytes().decode("utf-8")


def canonical(graph: Any) -> str:
    """JSON text that is equal for equal graphs (keys sorted; 1 and true differ)."""
    return json.dumps(graph, sort_keys=True)


def our_verdict(text: str, case_sensitive: bool) -> Verdict:
    """Parse ``text`` with our parser."""
    try:
        graph = parse_fbp(text, case_sensitive=case_sensitive).graph
    except GraphSyntaxError as e:
        if e.expected:
            return ("syntax", e.location.line, e.location.column, tuple(e.expected))
        return ("graph-error",)
    return ("accept", canonical(graph))


def reference_verdict(record: dict[str, Any]) -> Verdict:
    """The verdict of one answer of the reference parser."""
    syntax = record["syntax"]
    if syntax is not None:
        words = tuple(expected_words(syntax["expected"]))
        return ("syntax", syntax["line"], syntax["column"], words)
    if not record["ok"]:
        return ("graph-error",)
    return ("accept", canonical(record["graph"]))


def run_reference(items: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    """Parse every ``(text, case_sensitive)`` with the reference parser, in one process.

    Raises:
        RuntimeError: Node.js or the reference package is not installed.
    """
    if not (NPM / "node_modules" / "fbp" / "lib" / "fbp.js").is_file():
        msg = (
            "the reference parser is not installed: run `npm ci --prefix tests/npm`"
            " (needs Node.js and npm)"
        )
        raise RuntimeError(msg)
    node = shutil.which("node")
    if node is None:
        msg = "Node.js is not on PATH: install it, then run `npm ci --prefix tests/npm`"
        raise RuntimeError(msg)
    batch = [{"text": text, "caseSensitive": cs} for text, cs in items]
    done = subprocess.run(
        [node, str(NPM / "parse_many.js")],
        input=json.dumps(batch),
        capture_output=True,
        encoding="utf-8",
        check=False,
        timeout=300,
    )
    if done.returncode != 0:
        msg = f"the reference parser failed (exit {done.returncode}):\n{done.stderr}"
        raise RuntimeError(msg)
    records: list[dict[str, Any]] = json.loads(done.stdout)
    return records


def load_snapshot() -> dict[str, dict[str, dict[str, Any]]]:
    """The recorded reference answers: file name -> mode -> answer."""
    snapshot: dict[str, dict[str, dict[str, Any]]] = json.loads(SNAPSHOT.read_text("utf-8"))
    return snapshot


def answer_corpus() -> dict[str, dict[str, dict[str, Any]]]:
    """Ask the reference parser about every corpus file in both modes."""
    files = corpus_files()
    items = [(read(p), cs) for p in files for cs in MODES.values()]
    records = iter(run_reference(items))
    return {name_of(p): {mode: next(records) for mode in MODES} for p in files}


def record_snapshot() -> None:
    """Write ``reference.json``: one line per file."""
    answers = answer_corpus()
    lines = [f"{json.dumps(name)}: {json.dumps(answers[name], sort_keys=True)}" for name in answers]
    SNAPSHOT.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")


# -- graph strategies --------------------------------------------------------------------

# Names that are members of JavaScript's Object.prototype: the reference parser
# mishandles them (see divergent/), so generated graphs avoid them.
JS_OBJECT_MEMBERS = frozenset(
    {
        "constructor", "__proto__", "hasOwnProperty", "isPrototypeOf", "propertyIsEnumerable",
        "toLocaleString", "toString", "valueOf", "__defineGetter__", "__defineSetter__",
        "__lookupGetter__", "__lookupSetter__",
    }
)  # fmt: skip


_LETTERS = string.ascii_letters
_DIGITS = string.digits


def _name(first: str, rest: str, max_size: int, min_size: int = 0) -> st.SearchStrategy[str]:
    """``[first][rest]*`` names (faster to draw than ``st.from_regex``)."""
    head = st.sampled_from(first) if first else st.just("")
    tail = st.text(st.sampled_from(rest), min_size=min_size, max_size=max_size)
    return st.builds(operator.add, head, tail).filter(lambda s: s not in JS_OBJECT_MEMBERS)


process_names = st.one_of(
    _name(_LETTERS + "_", _LETTERS + _DIGITS + "_-", 7),
    # names that look like other things: anonymous processes, keywords, JSON literals
    st.sampled_from(["_Comp_1", "_core_Split_2", "IN", "OUT", "true", "null", "INPORT",
                     "DEFAULT_INPORT", "a-", "_"]),
)  # fmt: skip
port_names = st.one_of(_name(_LETTERS + "_", _LETTERS + _DIGITS + "._", 6), st.just("IN"))
components = _name("", _LETTERS + _DIGITS + "/_-", 12, min_size=1)
meta_text = _name("", _LETTERS + _DIGITS + "/_", 6)
beyond_doubles = st.sampled_from([10**400, 2**1024 - 1])
coordinates = st.one_of(st.none(), st.integers(0, 10**6), st.integers(0, 10**30), beyond_doubles)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    beyond_doubles,
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
    st.text(st.characters(codec=None, categories=["Cs", "Zl", "Zp", "Cc"])),
    st.sampled_from(["it's", "\\", "ends with \\", "\\'", "'", "a -> b", "# hash", "\t"]),
)
json_keys = st.text(max_size=6).filter(lambda k: k != "__proto__")
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(json_keys, inner, max_size=4)
    ),
    max_leaves=12,
)
indices = st.one_of(st.none(), st.integers(0, 20), st.integers(0, 10**25), beyond_doubles)


@st.composite
def _endpoints(draw: st.DrawFn, names: list[str]) -> dict[str, Any]:
    end: dict[str, Any] = {"process": draw(st.sampled_from(names)), "port": draw(port_names)}
    index = draw(indices)
    if index is not None:
        end["index"] = index
    return end


@st.composite
def expressible_graphs(draw: st.DrawFn) -> dict[str, Any]:
    """Graphs that ``.fbp`` can express (``fbp_losses`` is empty)."""
    names = draw(st.lists(process_names, min_size=1, max_size=6, unique=True))
    processes: dict[str, Any] = {}
    for name in names:
        process: dict[str, Any] = {"component": draw(components)}
        metadata: dict[str, Any] = {}
        for key in draw(st.lists(meta_text, max_size=3)):
            metadata[key] = draw(coordinates if key in ("x", "y") else meta_text)
        if draw(st.booleans()):
            metadata["x"], metadata["y"] = draw(coordinates), draw(coordinates)
        if draw(st.booleans()) or metadata:  # sometimes an empty {}
            process["metadata"] = metadata
        processes[name] = process
    connections = []
    for _ in range(draw(st.integers(0, 8))):
        tgt = draw(_endpoints(names))
        if draw(st.booleans()):
            connections.append({"data": draw(json_values), "tgt": tgt})
        else:
            connections.append({"src": draw(_endpoints(names)), "tgt": tgt})
    graph: dict[str, Any] = {"processes": processes, "connections": connections}
    for kind in ("inports", "outports"):
        exports = draw(st.dictionaries(port_names, st.sampled_from(names), max_size=2))
        graph[kind] = {
            public: {"process": p, "port": draw(port_names)} for public, p in exports.items()
        }
    annotation_values = _name(_LETTERS + _DIGITS + "_.-", _LETTERS + _DIGITS + "_. -", 10)
    properties: dict[str, Any] = draw(
        st.dictionaries(
            _name("", _LETTERS + _DIGITS + "_-", 8, min_size=1).filter(
                lambda k: k not in ("runtime", "environment")
            ),
            annotation_values,
            max_size=3,
        )
    )
    if draw(st.booleans()):
        properties["environment"] = {"type": draw(annotation_values)}
    if draw(st.booleans()) or properties:  # sometimes an empty {}
        graph["properties"] = properties
    if draw(st.booleans()):
        graph["caseSensitive"] = draw(st.booleans())
    if draw(st.booleans()):
        graph["groups"] = []
    return graph


# Pieces of .fbp text, valid and not, for fuzzing both parsers with the same soup.
TEXT_TOKENS = (
    "A", "B1", "_x", "my-node", "IN", "OUT", "in", "Out", "x.y", "(", ")", "(x/A)", "(B)",
    "(x/B:x=1,y=2)", "(:k=v)", "(c:main)", "()", ":", "=", ",", "->", "-", ">", " ", "   ",
    "\t", "\n", "\r\n", "\r", "\u2028", "\u2029", "'", "\\'", "\\", "'text'", "'a\\'b'", "#",
    "# c\n",
    "# @name N\n", "# @runtime r-1.0\n", "@", "[", "]", "[0]", "[12]", "0", "-1", "1.5e3",
    "01", "{", "}", '"', '"s"', '"\\u00e9"', '{"k": [1, null]}', "true", "null", "false",
    "INPORT=", "OUTPORT=", "INPORT=A.IN:P\n", "DEFAULT_INPORT=", "DEFAULT_OUTPORT=D\n", ".",
    "\u00e9", "A(x/A) OUT -> IN B(x/B)\n", "'iip' -> IN A(x/A)\n",
)  # fmt: skip
fbp_soup = st.lists(st.sampled_from(TEXT_TOKENS), max_size=24).map("".join)


if __name__ == "__main__":
    record_snapshot()
    print(f"recorded {SNAPSHOT} ({len(corpus_files())} files)", file=sys.stderr)
