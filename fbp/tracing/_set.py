"""Reading a rotated trace: a folder of segment files as one trace.

A rotated trace (:mod:`fbp.tracing._rotation`) keeps each run in one or more segment
files, each holding its part of the run under the run's id. :class:`TraceSet` reads
the folder as one :class:`~fbp.tracing.Trace`: each run is one run over the segments
retention kept (:class:`SegmentedRun`), its records those of the segments one after
the other. Records whose parents were in a deleted segment keep their parents' ids;
lineage reports those ancestors as missing (:attr:`fbp.tracing.Lineage.missing`).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import TraceFileError, TraceLookupError, suggest
from ._reader import Trace
from ._records import RunSummary
from ._rotation import list_segments
from ._run import TracedRun
from ._schema import connect_reader
from ._select import concatenated

if TYPE_CHECKING:
    from ._columns import RunColumns

__all__ = ("SegmentedRun", "TraceSet")

#: One part of a run: its segment's connection, its ``runs`` row, the segment file.
_Part = tuple[sqlite3.Connection, tuple[Any, ...], Path]


class SegmentedRun(TracedRun):
    """A run of a rotated trace, over the segments retention kept.

    Everything :class:`~fbp.tracing.TracedRun` answers is answered over the kept
    segments' records, in order; :attr:`segments` names them.
    """

    def __init__(self, parts: list[_Part], summary: RunSummary, folder: str) -> None:
        con, row, _ = parts[0]
        super().__init__(con, summary, row, folder)
        self._parts = parts
        self.segments = tuple(str(p) for _, _, p in parts)

    def _stores(self) -> list[tuple[sqlite3.Connection, int, str]]:
        """Each kept segment: its connection, the run's key in it, its file."""
        return [(con, row[0], str(p)) for con, row, p in self._parts]

    def columns(self) -> RunColumns:
        """The records of every kept segment, one segment after the other, as columns."""
        if self._columns is None:
            from ._chunks import read_columns

            parts = [read_columns(con, row[0], str(p)) for con, row, p in self._parts]
            closed = self._parts[:-1]  # closed segments: they no longer grow

            def payload_sizes() -> list[int]:
                sql = "SELECT coalesce(sum(length(payloads)), 0) FROM chunks WHERE run = ?"
                return [int(con.execute(sql, (row[0],)).fetchone()[0]) for con, row, _ in closed]

            self._columns = parts[0] if len(parts) == 1 else concatenated(parts, payload_sizes)
        return self._columns


class TraceSet(Trace):
    """A rotated trace (a folder of segments) read as one trace: its runs, each over
    the segments retention kept. Opened by :func:`~fbp.tracing.open_trace`.

    Raises:
        TraceFileError: the folder holds no segment, or a segment is not a trace.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._open: list[tuple[Path, sqlite3.Connection]] = []
        try:
            for seg in list_segments(self.path):
                try:
                    self._open.append((seg, connect_reader(seg)))
                except TraceFileError:
                    if seg.exists():
                        raise
                    # deleted by retention since the folder was listed
        except BaseException:
            self.close()
            raise
        if not self._open:
            msg = (
                f"{self.path!r} is a folder holding no trace segments (files NNNNNN-TIME.trace,"
                " written by fbp run --trace-rotate); give a trace file or a rotated"
                " trace's folder"
            )
            raise TraceFileError(self.path, msg)
        self._con = self._open[-1][1]

    def __repr__(self) -> str:
        return f"<TraceSet {self.path!r}: {len(self._open)} segments>"

    def close(self) -> None:
        """Close every segment."""
        for _, con in self._open:
            con.close()

    def _groups(self) -> dict[str, list[_Part]]:
        """Each run's parts, by run id, in segment order."""
        out: dict[str, list[_Part]] = {}
        for seg, con in self._open:
            for row in con.execute(
                f"SELECT {self._RUN_COLUMNS} FROM runs ORDER BY started_ns, run"
            ).fetchall():
                out.setdefault(row[1], []).append((con, row, seg))
        return out

    def _merged(self, parts: list[_Part]) -> RunSummary:
        """The summary of a run over its parts: the last part's status (a rotated last
        part: the run goes on, or its writer died during a rotation)."""
        first, last = parts[0][1], parts[-1][1]
        row = list(last)
        if row[3] == "rotated":
            row[3] = "running"
        summary = self._summary(tuple(row))
        return RunSummary(
            run_id=summary.run_id,
            graph_name=summary.graph_name,
            status=summary.status,
            started_ns=first[4],
            ended_ns=summary.ended_ns,
            records=sum(int(r[6]) for _, r, _ in parts),
            error=summary.error,
            stats=summary.stats,
        )

    def runs(self) -> list[RunSummary]:
        """Every run of the folder, oldest first, each over its kept segments."""
        out = [self._merged(parts) for parts in self._groups().values()]
        return sorted(out, key=lambda s: s.started_ns)

    def run(self, run_id: str | None = None) -> TracedRun:
        """One run over its kept segments: the latest by default, else by id or unique
        id prefix.

        Raises:
            TraceLookupError: no run matches, or a prefix matches several.
        """
        groups = self._groups()
        if run_id is None:
            # The latest start; of runs started together, the one written last.
            _, parts = max(enumerate(groups.values()), key=lambda kp: (kp[1][0][1][4], kp[0]))
        elif run_id in groups:
            parts = groups[run_id]
        else:
            matches = [k for k in groups if k.startswith(run_id)]
            if len(matches) > 1:
                ids = ", ".join(repr(k) for k in matches[:5])
                msg = (
                    f"run id prefix {run_id!r} matches {len(matches)} runs ({ids}); give more of it"
                )
                raise TraceLookupError(msg, what="run", name=run_id)
            if not matches:
                msg = f"no run {run_id!r} in trace {self.path!r}"
                hint = suggest(run_id, list(groups))
                raise TraceLookupError(msg, what="run", name=run_id, suggestions=hint)
            parts = groups[matches[0]]
        return SegmentedRun(parts, self._merged(parts), self.path)
