"""Make the trace files of older formats that tests/test_trace_convert.py reads.

Run with the fbp of the format's era first on the path (a checkout of the commit
that wrote it), from the repository's root::

    PYTHONPATH=OLD_CHECKOUT:tests python tests/data/make_old_traces.py tests/data/v1.trace

The file holds the hand-made DAG run of ``tests/test_trace_support.py`` ("run-1"),
a run of ``networks/substreams.fbp`` ("run-2"), and, for format 2, a run whose
writer appended its records and never indexed them ("run-3", a crashed run).
"""

from __future__ import annotations

import sys
import uuid

import anyio
from test_trace_support import dag_records, run_info, write_dag

from fbp.graph import build_network, load_graph
from fbp.tracing import TraceWriter
from fbp.tracing import _schema as schema


async def _real(path: str) -> None:
    graph = load_graph("networks/substreams.fbp")
    with TraceWriter(path) as writer:
        net = build_network(graph, trace=writer)
        net.run_id = "run-2"
        await net.run()


def main(path: str) -> None:
    write_dag(path, "run-1")
    anyio.run(_real, path)
    if schema.FORMAT_VERSION >= 2:
        from fbp.tracing._payload import encode_batch
        from fbp.tracing._store import RunStore

        store = RunStore(schema.connect_writer(path), path)
        store.start(run_info("run-3"))
        records = dag_records()
        store.append(len(records[:7]), encode_batch(records[:7], {}))
        store.append(len(records[7:]), encode_batch(records[7:], {}))
        store.con.execute("UPDATE runs SET writer_pid = 1, writer_host = ?", (uuid.uuid4().hex,))
        store.con.execute("UPDATE runs SET status = 'completed' WHERE run_id != 'run-3'")
        store.close()
    print(f"wrote {path}: format {schema.FORMAT_VERSION}")


if __name__ == "__main__":
    main(sys.argv[1])
