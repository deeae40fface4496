"""``validate``, ``show``, ``convert`` and ``components``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .._core._component import Component
from ._args import add_graph_file
from ._common import EXIT_BAD_INPUT, CliError, load

__all__ = ("add_graph_commands",)


def add_graph_commands(sub: Any) -> None:
    """Add the graph commands to the command parser."""
    p = sub.add_parser(
        "validate",
        help="check a network without running it",
        description="Check a network completely without running it: its syntax, that every"
        " component exists, every port and its type on both ends of every edge. Every problem"
        " is reported at once, with its place and the likely fix.",
    )
    add_graph_file(p)
    p.add_argument("--json", action="store_true", help="print the verdict as JSON for scripts")
    p.set_defaults(func=validate_command)

    p = sub.add_parser(
        "show",
        help="draw a network as text, DOT or mermaid",
        description="Draw a network: as indented text, as Graphviz DOT (pipe it to `dot"
        " -Tpng`) or as a mermaid flowchart (for Markdown pages).",
    )
    add_graph_file(p)
    p.add_argument(
        "--format", choices=("text", "dot", "mermaid"), default="text", help="the drawing's form"
    )
    p.set_defaults(func=show_command)

    p = sub.add_parser(
        "convert",
        help="convert a network between .fbp, JSON and YAML",
        description="Print a network in another graph format: FBP JSON (the NoFlo/flowbased"
        " format), the .fbp DSL, or YAML. What a format cannot express is an error that"
        " lists each loss.",
    )
    add_graph_file(p)
    p.add_argument(
        "--to", choices=("json", "fbp", "yaml"), required=True, help="the format to print"
    )
    p.set_defaults(func=convert_command)

    p = sub.add_parser(
        "components",
        help="list the components that can be used",
        description="List the components a graph can name (collection/Name), with their"
        " ports and types: the standard library, the collections of installed packages, and"
        " the modules in the directories of --path, FBP_PATH and the project's"
        " pyproject.toml ([tool.fbp] path).",
    )
    p.add_argument("--json", action="store_true", help="print the list as JSON for scripts")
    p.add_argument("filter", nargs="?", help="only names containing this text")
    p.set_defaults(func=components_command)

    p = sub.add_parser(
        "examples",
        help="list the example networks, or copy them to try them",
        description="List the example networks that come with fbp; with --copy, copy them"
        " and their data into DIR/networks, so that 'fbp run networks/wordcount.fbp' run"
        " in DIR works as the README shows.",
    )
    p.add_argument(
        "--copy",
        metavar="DIR",
        nargs="?",
        const=".",
        help="copy the networks into DIR/networks (DIR defaults to the current directory);"
        " existing files are kept",
    )
    p.set_defaults(func=examples_command)


def validate_command(args: argparse.Namespace) -> int:
    """Check a graph and print every problem."""
    from .._core._exceptions import GraphError
    from ..graph import check_graph, load_graph

    path = Path(args.network)
    issues: list[Any]
    try:
        graph = load_graph(path)
        flat = check_graph(graph)
        issues = list(flat.issues)
        summary = {
            "processes": len(flat.processes),
            "edges": len(flat.edges),
            "iips": len(flat.initials),
        }
    except GraphError as e:
        issues = list(getattr(e, "issues", [])) or [e]
        summary = {}
    if args.json:
        print(
            json.dumps(
                {
                    "network": args.network,
                    "valid": not issues,
                    **summary,
                    "issues": [
                        {
                            "message": getattr(i, "msg", str(i)),
                            "location": str(getattr(i, "location", "")),
                            "hint": getattr(i, "hint", ""),
                        }
                        for i in issues
                    ],
                }
            )
        )
    elif issues:
        print(
            f"{args.network}: {len(issues)} problem{'s' if len(issues) != 1 else ''}",
            file=sys.stderr,
        )
        for i in issues:
            print(f"  - {i}", file=sys.stderr)
    else:
        print(
            f"{args.network}: valid ({summary['processes']} processes,"
            f" {summary['edges']} edges, {summary['iips']} IIPs)"
        )
    return EXIT_BAD_INPUT if issues else 0


def show_command(args: argparse.Namespace) -> int:
    """Print a drawing of the graph."""
    from ..graph._render import render_graph

    sys.stdout.write(render_graph(load(args.network), args.format))
    return 0


def convert_command(args: argparse.Namespace) -> int:
    """Print the graph in another format."""
    from ..graph import dump_graph

    graph = load(args.network)
    try:
        sys.stdout.write(dump_graph(graph, args.to))
    except Exception as e:
        if type(e).__name__ == "NotExpressibleError":
            raise CliError(str(e)) from None
        raise
    return 0


def components_command(args: argparse.Namespace) -> int:
    """List every component with its ports and types."""
    from ..graph import Registry

    registry = Registry()
    found = {**registry.all_components(), **registry.path_components()}
    rows: list[dict[str, Any]] = []
    for name, obj in found.items():
        if args.filter and args.filter.lower() not in name.lower():
            continue
        if isinstance(obj, type) and issubclass(obj, Component):
            d = obj.spec().to_dict()
            d["name"] = name
            d["import_path"] = obj.spec().qualname
        else:
            from ..graph import load_graph

            try:
                desc = str(load_graph(obj).properties.get("description") or "")
            except Exception as e:  # a broken subnet file is listed, not fatal
                desc = f"(cannot load: {e})"
            d = {"name": name, "graph": str(obj), "description": f"subnet. {desc}".strip()}
        rows.append(d)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    for d in rows:
        print(f"{d['name']}  {d.get('description', '')}")
        for kind in ("inports", "outports"):
            for p in d.get(kind, []):
                arrow = "<-" if kind == "inports" else "->"
                extra = "" if p["required"] else " (optional)"
                arr = "[]" if p["array"] else ""
                desc = f"  {p['description']}" if p["description"] else ""
                print(f"    {arrow} {p['name'].upper()}{arr}: {p['type']}{extra}{desc}")
    return 0


def _example_files() -> Any:
    from importlib.resources import files

    return files("fbp._networks")


def _describe(text: str) -> str:
    """The first comment line after ``# @name`` of an example network."""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#") and not line.startswith("# @"):
            return line.lstrip("# ").strip()
    return ""


def examples_command(args: argparse.Namespace) -> int:
    """List the example networks, or copy them (with their data) into a directory."""
    root = _example_files()
    graphs = sorted(
        (f for f in root.iterdir() if f.name.endswith((".fbp", ".json", ".yaml"))),
        key=lambda f: f.name,
    )
    if args.copy is None:
        for f in graphs:
            print(f"networks/{f.name:<22} {_describe(f.read_text(encoding='utf-8'))}")
        print(
            "\ncopy them with 'fbp examples --copy DIR', then, in DIR:"
            " fbp run networks/hello.fbp",
            file=sys.stderr,
        )
        return 0
    target = Path(args.copy) / "networks"
    copied, kept = 0, []
    data = root / "data"
    sources = [(f, target / f.name) for f in graphs]
    sources += [(f, target / "data" / f.name) for f in sorted(data.iterdir(), key=lambda f: f.name)]
    for src, dst in sources:
        if dst.exists():
            kept.append(str(dst))
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(src.read_bytes())
        copied += 1
    print(f"copied {copied} files into {target}" + (f"; kept {len(kept)} existing" if kept else ""))
    print(f"try: cd {args.copy} && fbp run networks/hello.fbp", file=sys.stderr)
    return 0
