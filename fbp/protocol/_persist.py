"""``network:persist``: keep the runtime's graphs across restarts.

With a persist folder (``--persist DIR``), ``network:persist`` writes every graph the
runtime holds to ``DIR/<graph id>.json`` as FBP JSON (its id, and whether it is the
main graph, in ``properties``), replacing what an earlier persist wrote, and the
runtime loads them again when it starts. Without one the command is refused and the
``network:persist`` capability is not reported.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from .._core._log import get_logger
from ..graph import Graph
from ._graphs import GraphStore, LiveGraph

__all__ = ("load_graphs", "persist_graphs")

log = get_logger(layer="protocol")

_KEY = "fbp-runtime"


def _file_name(graph_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", graph_id)
    return f"{safe}.json"


def persist_graphs(store: GraphStore, folder: Path) -> list[str]:
    """Write every graph of ``store`` to ``folder``; return the graph ids written."""
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    for gid, lg in store.graphs.items():
        data = lg.graph.to_dict()
        data.setdefault("properties", {})[_KEY] = {
            "id": gid,
            "main": store.main == gid,
            "info": lg.info,
        }
        name = _file_name(gid)
        tmp = folder / (name + ".tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, folder / name)
        written[name] = gid
    for old in folder.glob("*.json"):
        if old.name not in written and _KEY in _properties(old):
            old.unlink(missing_ok=True)
    return list(written.values())


def _properties(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    props = data.get("properties") if isinstance(data, dict) else None
    return props if isinstance(props, dict) else {}


def load_graphs(store: GraphStore, folder: Path) -> list[str]:
    """Load the graphs a persist wrote to ``folder`` into ``store``; return their ids.

    A file that cannot be read is logged and skipped.
    """
    loaded: list[str] = []
    if not folder.is_dir():
        return loaded
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            meta = data["properties"].pop(_KEY)
            gid = str(meta["id"])
            graph = Graph.from_dict(data, source=str(path))
        except Exception as e:  # a damaged or foreign file must not stop the runtime
            log.warning("persisted graph not loaded", file=str(path), error=str(e))
            continue
        info = meta.get("info") if isinstance(meta.get("info"), dict) else {}
        store.graphs[gid] = LiveGraph(gid, graph, bool(meta.get("main")), info)
        if meta.get("main"):
            store.main = gid
        loaded.append(gid)
    return loaded
