"""Trace rotation for long-running networks: a folder of segment files with retention.

A rotated trace is a folder. Its *segments* are ordinary trace files named
``NNNNNN-YYYYmmddTHHMMSS.mmmZ.trace`` (a sequence number, then the wall-clock time the
segment was opened), each holding its part of the run as a run of its own, under the
run's id: opened directly, a segment is a complete trace. The writer's thread
(:class:`SegmentedStore`, behind :class:`~fbp.tracing.TraceWriter`) appends commits to
the newest segment and, before a commit, opens the next one once the newest is
``every_bytes`` large on disk or ``every_seconds`` old. Rotation happens between
commits, so a record is in exactly one segment, and nothing waits for it but the
writer's thread.

A segment is created as ``NAME.tmp``, its run and ports committed, closed, then renamed
to ``NAME``: a reader sees a segment whole or not at all, and a crash during a rotation
leaves at most a ``.tmp`` file, which the next writer of the folder deletes. A closed
segment's run is marked ``rotated`` (its run continues in the next segment); the
newest segment's run ends with the run's own status. Whenever a segment is opened,
retention deletes the oldest segments beyond ``keep_segments``, older than
``keep_seconds`` (the age of a segment is the time since the next one was opened), or
beyond ``keep_bytes`` in all; the segment being written is never deleted. The oldest
segments beyond ``keep_segments`` go just before the new one is published, so a kill at
any moment leaves at most ``keep_segments`` segments. One writer at
a time owns a folder (a lock file, ``.lock``).

:func:`fbp.tracing.open_trace` reads a folder as one trace (:class:`TraceSet`, in
:mod:`fbp.tracing._reader`): each run as one run over its kept segments.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from fbp._core._tracehook import RunInfo

from ._chunks import Chunk
from ._errors import TraceFileError
from ._schema import connect_writer
from ._store import RunStore

__all__ = (
    "Rotation",
    "SegmentedStore",
    "commit_bytes_for",
    "list_segments",
    "parse_bytes",
    "parse_seconds",
)

#: A segment's file name: sequence number, then the time it was opened (UTC).
SEGMENT_NAME: Final = re.compile(r"^(\d{6,})-(\d{8}T\d{6}\.\d{3}Z)\.trace$")
_STAMP: Final = "%Y%m%dT%H%M%S"
LOCK_NAME: Final = ".lock"

_BYTE_UNITS: Final = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_TIME_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_QUANTITY: Final = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)\s*$")


def _quantity(text: str, units: dict[str, int]) -> float | None:
    """A number with one of ``units`` (a unit is required), in the base unit."""
    m = _QUANTITY.match(text)
    if m is None or m.group(2).lower() not in units:
        return None
    return float(m.group(1)) * units[m.group(2).lower()]


def parse_bytes(text: str) -> int | None:
    """``"500MB"``, ``"1GiB"``, ``"200kb"`` as bytes; None if ``text`` is not a size."""
    value = _quantity(text, _BYTE_UNITS)
    return None if value is None else int(value)


def parse_seconds(text: str) -> float | None:
    """``"90s"``, ``"30m"``, ``"1h"``, ``"7d"``, ``"2w"`` as seconds; None otherwise."""
    return _quantity(text, _TIME_UNITS)


def _stamp(t: float) -> str:
    ms = round((t - math.floor(t)) * 1000) % 1000
    return time.strftime(_STAMP, time.gmtime(math.floor(t))) + f".{ms:03d}Z"


def _opened_at(name: str) -> float:
    """The time a segment was opened, from its name."""
    m = SEGMENT_NAME.match(name)
    assert m is not None
    stamp, ms = m.group(2)[:-5], m.group(2)[-4:-1]
    import calendar

    return calendar.timegm(time.strptime(stamp, _STAMP)) + int(ms) / 1000


def list_segments(folder: str | os.PathLike[str]) -> list[Path]:
    """The segment files of a rotated trace, oldest first."""
    out: list[tuple[int, Path]] = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for entry in os.scandir(folder):
            m = SEGMENT_NAME.match(entry.name)
            if m is not None and entry.is_file():
                out.append((int(m.group(1)), Path(entry.path)))
    return [p for _, p in sorted(out)]


def _disk_bytes(path: Path) -> int:
    """Bytes a segment takes on disk: the database and its write-ahead log."""
    total = 0
    for p in (path, path.with_name(path.name + "-wal")):
        with contextlib.suppress(FileNotFoundError):
            total += p.stat().st_size
    return total


def _db_bytes(store: RunStore) -> int:
    """The size of a segment's database as written so far (what it takes on disk once
    closed; while open, its write-ahead log takes up to a few more MiB beside it)."""
    con = store.con
    pages = con.execute("PRAGMA page_count").fetchone()[0]
    return int(pages) * int(con.execute("PRAGMA page_size").fetchone()[0])


def _remove(path: Path) -> None:
    """Delete a segment file and what SQLite keeps beside it."""
    for p in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


@dataclass(frozen=True, slots=True)
class Rotation:
    """When a :class:`~fbp.tracing.TraceWriter` starts a new segment of its trace, and
    which old segments it keeps.

    With a rotation, the writer's path is a folder of segment files (see
    ``docs/operations.md``). At least one of ``every_bytes`` and ``every_seconds`` is
    needed; without any ``keep_*`` every segment is kept. The disk a trace takes is
    bounded by ``keep_segments`` (at most that many segments, each about
    ``every_bytes`` plus one commit), or by ``keep_bytes``, plus the newest segment's
    write-ahead log while it is written; ``keep_seconds`` bounds it by the run's rate.

    Args:
        every_bytes: start a new segment once the newest is this large (its database:
            what it takes on disk once closed; while it is written, its write-ahead
            log takes up to about 16 MiB more beside it).
        every_seconds: start a new segment once the newest is this old.
        keep_segments: keep at most this many segments, the one being written included.
        keep_seconds: delete a segment this long after the next one was opened.
        keep_bytes: delete the oldest segments while all of them take more disk than this.
        clock: the wall clock, in seconds since the epoch (tests give one they move).

    Raises:
        ValueError: no rotation is asked for, or a setting is not positive.
    """

    every_bytes: int | None = None
    every_seconds: float | None = None
    keep_segments: int | None = None
    keep_seconds: float | None = None
    keep_bytes: int | None = None
    clock: Callable[[], float] = field(default=time.time, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.every_bytes is None and self.every_seconds is None:
            msg = "a trace rotation needs every_bytes or every_seconds (or both)"
            raise ValueError(msg)
        for name in ("every_bytes", "every_seconds", "keep_segments", "keep_seconds", "keep_bytes"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                msg = f"Rotation.{name} must be > 0, not {value!r}"
                raise ValueError(msg)

    @classmethod
    def parse(cls, rotate: str, keep: str | None = None) -> Rotation:
        """A rotation from the command line's words.

        Args:
            rotate: ``"1h"``, ``"500MB"`` or both, comma-separated (``"1h,500MB"``).
            keep: ``"24"`` (segments), ``"7d"`` (age), ``"5GB"`` (disk), or several,
                comma-separated.

        Raises:
            ValueError: a word is neither a size nor a duration (the message says what is).
        """
        every = _read_words("rotate", rotate, None, "every_bytes", "every_seconds")
        every |= _read_words("keep", keep or "", "keep_segments", "keep_bytes", "keep_seconds")
        if not rotate.strip():
            msg = "rotate: give a size (500MB), a duration (1h), or both (1h,500MB)"
            raise ValueError(msg)
        return cls(**every)


_WORD_HINTS = {
    "rotate": "give a size (500MB, 1GiB) or a duration (30m, 1h, 1d)",
    "keep": "give a number of segments (24), an age (7d) or a size (5GB)",
}


def _read_words(
    option: str, text: str, count: str | None, size: str, duration: str
) -> dict[str, Any]:
    """The comma-separated words of ``text`` as :class:`Rotation` fields: a whole number
    as ``count`` (when there is one), a size as ``size``, a duration as ``duration``.

    Raises:
        ValueError: a word is none of them; the message names ``option`` and what it takes.
    """
    out: dict[str, Any] = {}
    for word in filter(None, (w.strip() for w in text.split(","))):
        nbytes, seconds = parse_bytes(word), parse_seconds(word)
        if count is not None and word.isdigit():
            out[count] = int(word)
        elif nbytes is not None:
            out[size] = nbytes
        elif seconds is not None:
            out[duration] = seconds
        else:
            msg = f"{option} {word!r}: {_WORD_HINTS[option]}"
            raise ValueError(msg)
    return out


def commit_bytes_for(rotation: Rotation, commit_bytes: int) -> int:
    """The writer's commit size under a rotation by size: at most an eighth of a
    segment (and 64 KiB at least), since a segment outgrows ``every_bytes`` by up to
    one commit."""
    if rotation.every_bytes is None:
        return commit_bytes
    return min(commit_bytes, max(rotation.every_bytes // 8, 1 << 16))


def check_folder(name: str) -> Path:
    """Refuse, with the fix, a path that cannot be a folder of segments; create it.

    Raises:
        TraceFileError: the path is a file, or its parent folder does not exist.
    """
    p = Path(name)
    if p.exists() and not p.is_dir():
        msg = (
            f"cannot write a rotated trace to {name!r}: it is a file; a rotated trace is"
            f" a folder of segment files: give a folder path, such as {str(p) + '.d'!r}"
        )
        raise TraceFileError(name, msg)
    if not p.absolute().parent.is_dir():
        msg = (
            f"cannot write a rotated trace to {name!r}: folder"
            f" {str(p.absolute().parent)!r} does not exist; create it first"
        )
        raise TraceFileError(name, msg)
    p.mkdir(exist_ok=True)
    return p


def _lock(folder: Path) -> IO[str]:
    """Own the folder: a second writer is refused while this one lives."""
    f = (folder / LOCK_NAME).open("a+")
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX: no lock
        return f
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.seek(0)
        who = f.read().strip() or "another process"
        f.close()
        msg = (
            f"rotated trace {str(folder)!r} is being written by {who}; one writer owns a"
            " folder: give each running network a folder of its own"
        )
        raise TraceFileError(str(folder), msg) from None
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()}\n")
    f.flush()
    return f


def _sync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class SegmentedStore:
    """The writer thread's store for a rotated trace: :class:`RunStore`'s interface,
    over a folder of segments (see the module docstring)."""

    def __init__(self, folder: str, rotation: Rotation) -> None:
        self.path = folder
        self.folder = check_folder(folder)
        self.rotation = rotation
        self._lock_file = _lock(self.folder)
        self._clock = rotation.clock
        self._current: RunStore | None = None
        self._current_path: Path | None = None
        self._opened_at = 0.0
        self._info: RunInfo | None = None
        self._stored_before = 0
        self._seconds_before = 0.0
        #: Segments opened and deleted by this writer.
        self.opened = 0
        self.deleted = 0
        for stale in self.folder.glob("*.trace.tmp"):  # a rotation a crash cut short
            _remove(stale)

    @property
    def stored(self) -> int:
        """Records committed, over every segment."""
        return self._stored_before + (self._current.stored if self._current else 0)

    @property
    def store_seconds(self) -> float:
        """Seconds spent storing, over every segment."""
        return self._seconds_before + (self._current.store_seconds if self._current else 0.0)

    @property
    def run_key(self) -> int | None:
        return self._current.run_key if self._current else None

    # -- RunStore's interface -------------------------------------------------------------

    def start(self, info: RunInfo) -> None:
        """Begin a run in a new segment."""
        self._info = info
        self._close_current()
        self._open()

    def append(self, n: int, text: bytes | bytearray) -> None:
        """Append a commit, to a new segment if the newest one is full or old."""
        self._rotate_if_due()
        assert self._current is not None
        self._current.append(n, text)

    def copy(self, chunk: Chunk) -> None:
        """Append a chunk made elsewhere, to a new segment if the newest one is due."""
        self._rotate_if_due()
        assert self._current is not None
        self._current.copy(chunk)

    def finish(self, status: str, error: str | None, stats: dict[str, Any], ended_ns: int) -> None:
        """End the run in its newest segment."""
        assert self._current is not None
        self._current.finish(status, error, stats, ended_ns)
        self._info = None

    def close(self) -> None:
        """Close the newest segment and give the folder up."""
        try:
            self._close_current()
        finally:
            self._lock_file.close()

    # -- segments -------------------------------------------------------------------------

    def _rotate_if_due(self) -> None:
        cur, rot = self._current, self.rotation
        assert cur is not None
        if cur.stored == 0:
            return  # never an empty segment
        due = (rot.every_bytes is not None and _db_bytes(cur) >= rot.every_bytes) or (
            rot.every_seconds is not None and self._clock() - self._opened_at >= rot.every_seconds
        )
        if due:
            cur.finish("rotated", None, {}, time.time_ns())
            self._close_current()
            self._open()

    def _close_current(self) -> None:
        cur = self._current
        if cur is None:
            return
        self._stored_before += cur.stored
        self._seconds_before += cur.store_seconds
        self._current = None
        cur.close()

    def _next_seq(self) -> int:
        last = 0
        for p in list_segments(self.folder):
            m = SEGMENT_NAME.match(p.name)
            assert m is not None
            last = max(last, int(m.group(1)))
        return last + 1

    def _open(self) -> None:
        """Open the next segment with the run's graph and ports, then apply retention."""
        info = self._info
        assert info is not None
        now = self._clock()
        final = self.folder / f"{self._next_seq():06d}-{_stamp(now)}.trace"
        tmp = final.with_name(final.name + ".tmp")
        store = RunStore(connect_writer(tmp), str(final))
        try:
            store.start(info)
        finally:
            store.con.close()
        # Make room before the new segment appears, so that a kill between the two never
        # leaves more than ``keep_segments`` on disk (the rest of retention follows below).
        self._drop_beyond_count()
        try:
            publish(tmp, final)
        except BaseException:
            _remove(tmp)
            raise
        _sync_folder(self.folder)
        store.con = connect_writer(final)
        self._current, self._current_path, self._opened_at = store, final, now
        self.opened += 1
        self._prune(now)

    def _drop_beyond_count(self) -> None:
        """Delete the oldest segments so that one more keeps within ``keep_segments``."""
        keep = self.rotation.keep_segments
        if keep is None:
            return
        segments = list_segments(self.folder)
        drop = segments[: max(len(segments) + 1 - keep, 0)]
        for seg in drop:
            _remove(seg)
        self.deleted += len(drop)

    def _prune(self, now: float) -> None:
        """Delete the segments retention does not keep (never the newest)."""
        rot = self.rotation
        segments = [p for p in list_segments(self.folder) if p != self._current_path]
        drop: set[Path] = set()
        if rot.keep_segments is not None:
            extra = len(segments) + 1 - rot.keep_segments
            drop.update(segments[: max(extra, 0)])
        if rot.keep_seconds is not None:
            assert self._current_path is not None
            nexts = [*segments[1:], self._current_path][: len(segments)]
            for seg, nxt in zip(segments, nexts, strict=True):
                if now - _opened_at(nxt.name) >= rot.keep_seconds:
                    drop.add(seg)
        if rot.keep_bytes is not None:
            assert self._current_path is not None
            total = _disk_bytes(self._current_path)
            for seg in reversed(segments):
                if seg in drop:
                    continue
                total += _disk_bytes(seg)
                if total > rot.keep_bytes:
                    drop.add(seg)
        for seg in drop:
            _remove(seg)
        self.deleted += len(drop)


def publish(tmp: Path, final: Path) -> None:
    """Give a new segment its name (atomic: readers see it whole or not at all)."""
    os.replace(tmp, final)
