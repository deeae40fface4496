"""Command-line arguments that several commands take, defined once so that each
command names and explains them in the same words."""

from __future__ import annotations

import argparse

__all__ = ("add_graph_file", "add_json", "add_run", "add_trace_run", "add_unit_and_seed")


def add_graph_file(p: argparse.ArgumentParser) -> None:
    """``NETWORK``: the graph file the command reads (run, validate, show, convert)."""
    p.add_argument("network", help="the graph file (.fbp, .json, .yaml)")


def add_run(p: argparse.ArgumentParser) -> None:
    """``--run ID``: which run of a trace (the latest by default)."""
    p.add_argument("--run", metavar="ID", help="run id or unique prefix (default: latest)")


def add_trace_run(p: argparse.ArgumentParser) -> None:
    """``FILE [--run ID]``: the recorded run the command reads (the trace commands, otlp)."""
    p.add_argument("file", metavar="FILE", help="the trace file, or a rotated trace's folder")
    add_run(p)


def add_unit_and_seed(p: argparse.ArgumentParser) -> None:
    """``--unit P.PORT`` and ``--seed N`` of the commands that build a causal table."""
    p.add_argument("--unit", metavar="P.PORT", help="the source port whose IPs are the rows")
    p.add_argument("--seed", type=int, default=0)


def add_json(p: argparse.ArgumentParser) -> None:
    """``--json`` of the commands that print one result (the causal queries, replay, otlp)."""
    p.add_argument("--json", action="store_true", help="print the result as JSON")
