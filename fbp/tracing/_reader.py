"""Reading a trace file: :func:`open_trace` and :class:`Trace`, the runs it holds."""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any

from fbp._core._closing import Closing

from ._errors import TraceLookupError, suggest
from ._records import RunState, RunSummary
from ._run import TracedRun
from ._schema import connect_reader

__all__ = ("Trace", "open_trace")


def open_trace(path: str | os.PathLike[str]) -> Trace:
    """Open a trace file, or a rotated trace's folder of segments, for reading.

    A folder reads as one trace: each run over the segments retention kept (see
    :class:`~fbp.tracing.Rotation`).

    Raises:
        TraceFileError: the file does not exist or is not a trace; the folder holds
            no segment.
    """
    if os.path.isdir(path):
        from ._set import TraceSet

        return TraceSet(path)
    return Trace(path)


def _pid_alive(pid: int | None, host: str | None) -> bool:
    if pid is None or host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


class Trace(Closing):
    """An open trace file: the runs it holds.

    Use it as a context manager or call :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._con = connect_reader(path)

    def __repr__(self) -> str:
        return f"<Trace {self.path!r}>"

    def _repr_html_(self) -> str:
        """The runs of the file as a table, for notebooks."""
        from .._core._html import html_table

        return html_table(
            self.path,
            ("run", "network", "status", "started", "records", "error"),
            (
                (
                    r.run_id[:12],
                    r.graph_name,
                    r.status,
                    time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.started_ns / 1e9)),
                    r.records,
                    r.error or "",
                )
                for r in self.runs()
            ),
        )

    def close(self) -> None:
        """Close the file."""
        self._con.close()

    _RUN_COLUMNS = (
        "run, run_id, graph_name, status, started_ns, ended_ns, records, error, stats,"
        " writer_pid, writer_host, graph, settings, t0_perf_ns"
    )

    def _summary(self, row: tuple[Any, ...]) -> RunSummary:
        status: RunState = row[3]
        if status == "running" and not _pid_alive(row[9], row[10]):
            status = "crashed"
        return RunSummary(
            run_id=row[1],
            graph_name=row[2],
            status=status,
            started_ns=row[4],
            ended_ns=row[5],
            records=row[6],
            error=row[7],
            stats=json.loads(row[8]) if row[8] else {},
        )

    def runs(self) -> list[RunSummary]:
        """Every run in the file, oldest first."""
        rows = self._con.execute(
            f"SELECT {self._RUN_COLUMNS} FROM runs ORDER BY started_ns, run"
        ).fetchall()
        return [self._summary(r) for r in rows]

    def run(self, run_id: str | None = None) -> TracedRun:
        """One run: the latest by default, else by id or unique id prefix.

        Raises:
            TraceLookupError: no run matches, or a prefix matches several.
        """
        con = self._con
        if run_id is None:
            row = con.execute(
                f"SELECT {self._RUN_COLUMNS} FROM runs ORDER BY started_ns DESC, run DESC LIMIT 1"
            ).fetchone()
            if row is None:
                msg = f"trace {self.path!r} holds no run yet"
                raise TraceLookupError(msg, what="run", name="")
            return self._open_run(row)
        row = con.execute(
            f"SELECT {self._RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        if row is None:
            rows = con.execute(
                f"SELECT {self._RUN_COLUMNS} FROM runs WHERE substr(run_id, 1, ?) = ?",
                (len(run_id), run_id),
            ).fetchall()
            if len(rows) > 1:
                ids = ", ".join(repr(r[1]) for r in rows[:5])
                msg = f"run id prefix {run_id!r} matches {len(rows)} runs ({ids}); give more of it"
                raise TraceLookupError(msg, what="run", name=run_id)
            if not rows:
                known = [r[0] for r in con.execute("SELECT run_id FROM runs")]
                msg = f"no run {run_id!r} in trace {self.path!r}"
                hint = suggest(run_id, known)
                raise TraceLookupError(msg, what="run", name=run_id, suggestions=hint)
            row = rows[0]
        return self._open_run(row)

    def _open_run(self, row: tuple[Any, ...]) -> TracedRun:
        """The run of a ``runs`` row."""
        return TracedRun(self._con, self._summary(row), row, self.path)
