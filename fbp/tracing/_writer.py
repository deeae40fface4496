"""The trace writer: a :class:`~fbp._core._tracehook.TraceSink` that stores records.

The runtime calls :meth:`TraceWriter.write` with batches of records from its event loop.
``write()`` serialises the batch to one JSON text there and then (see
:class:`~fbp.tracing._payload.BatchEncoder`), which frees the records, and gathers the
texts until they make a commit (``commit_bytes``). It then hands the commit to a
background thread and waits until the thread has taken it; the thread splits it into
columns and appends them to the file as one chunk, committed at once, while the event
loop goes on. If the thread is still busy with the previous commit, ``write()`` waits
for it (back-pressure: memory stays bounded, at two commits, and no record is ever
dropped). A killed process loses only the records not handed over yet.
:meth:`TraceWriter.flush` and :meth:`TraceWriter.finish_run` wait until everything
written before them is committed.

Why the hand-over waits: a thread coming back from SQLite needs the GIL, and an event
loop that is never idle releases and retakes the GIL on every iteration (its ``select``
call) without ever letting a waiting thread in, so the writer thread could starve for
the whole run and do all its work at the end. Waiting until it has taken each commit
gives it the GIL at the moment it needs it, for the price of one thread switch per
commit. Serialising in the caller's thread costs the event loop the time the
serialisation holds the GIL, which it would hold in any thread, and nothing more.

Splitting a commit into columns and storing it is all the work there is: nothing is
left for the end of a run (``finish_run()`` commits the run's status) or for
:meth:`TraceWriter.close`, and readers read the chunks as they are.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import sqlite3
import sys
import threading
import time
import weakref
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, get_args

from fbp._core._closing import Closing
from fbp._core._tracehook import RunInfo, RunStatus, TraceRecord, TraceSink

from ._chunks import chunk_of
from ._errors import TraceError, TraceWriterError
from ._payload import (
    BatchEncoder,
    PayloadSetting,
    check_setting,
    resolve_payload_modes,
)
from ._schema import connect_writer
from ._store import RunStore

if TYPE_CHECKING:
    from ._columns import RunColumns
    from ._rotation import Rotation, SegmentedStore

__all__ = ("TraceWriter", "WriterStatistics")

_LIVENESS_S: Final = 0.5
#: Records copied per chunk by :meth:`TraceWriter.copy`.
_COPY_BLOCK: Final = 65536
#: An empty write() (the runtime's timer) hands over what was gathered this long ago.
_GATHERED_MAX_S: Final = 0.1
_STATUSES: Final = frozenset(get_args(RunStatus))
#: The interpreter's switch interval while a writer thread stores a commit (see
#: :func:`_prompt_gil`).
_STORE_SWITCH_S: Final = 0.0002


@dataclass(frozen=True, slots=True)
class WriterStatistics:
    """Counters of a :class:`TraceWriter`, for observers and benchmarks."""

    #: Records handed to :meth:`TraceWriter.write`.
    received: int
    #: Records committed to the file.
    stored: int
    #: Commits handed to the writer thread.
    commits: int
    #: Seconds spent serialising batches to JSON, in the threads calling ``write()``.
    encode_seconds: float
    #: Seconds the callers spent waiting for the writer thread to take a commit
    #: (back-pressure, and the thread switch of each hand-over).
    wait_seconds: float
    #: Seconds the writer thread spent splitting commits into columns and appending
    #: them to the file (in C and SQLite, mostly without the GIL).
    store_seconds: float


@dataclass(frozen=True, slots=True)
class _Encoded:
    """A batch of records as a :class:`BatchEncoder` serialised it: a JSON array of ``n``."""

    n: int
    rows: bytes | bytearray


def _joined(batches: list[_Encoded]) -> tuple[int, bytes | bytearray]:
    """Several encoded batches as one (their arrays joined), copied once: each
    batch's inside is appended through a view (slicing and joining bytes copied a
    4 MiB commit twice, in the event loop's thread)."""
    if len(batches) == 1:
        return batches[0].n, batches[0].rows
    out = bytearray(b"[")
    for b in batches:
        if b.n:
            if len(out) > 1:
                out += b","
            out += memoryview(b.rows)[1:-1]
    out += b"]"
    return sum(b.n for b in batches), out


_switch_lock = threading.Lock()
_switch_users = 0
_switch_saved = 0.0


@contextlib.contextmanager
def _prompt_gil() -> Any:
    """Lower the interpreter's switch interval while a writer thread stores a commit.

    Storing runs mostly without the GIL (the split in C, SQLite's writes), and each time
    the thread comes back it must take the GIL from the event loop's thread. A thread
    waiting for the GIL asks for it only once the switch interval (5 ms by default) has
    passed without the holder letting it go; but an event loop lets it go and takes it
    back on every iteration (its ``select`` call), which restarts that wait, so with
    the default interval the writer thread waited 25-55 ms each time (measured: a
    1.2M-IP traced run spent 0.84 s storing 13 commits that took 0.32 s of CPU, and the
    event loop then waited for it). At 0.2 ms the same commits are stored in 0.45 s
    and the run no longer waits. The interval is restored when no writer thread is
    storing.
    """
    global _switch_users, _switch_saved
    with _switch_lock:
        if _switch_users == 0:
            _switch_saved = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_saved, _STORE_SWITCH_S))
        _switch_users += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switch_users -= 1
            if _switch_users == 0:
                sys.setswitchinterval(_switch_saved)


_live_writers: weakref.WeakSet[TraceWriter] = weakref.WeakSet()


@atexit.register
def _close_live_writers() -> None:
    for writer in list(_live_writers):
        try:
            writer.close()
        except Exception:  # best effort at interpreter exit
            continue


class TraceWriter(Closing):
    """Store the records of one or more runs in a trace file.

    Implements the runtime's ``TraceSink``; use it as a context manager, or call
    :meth:`close` when done::

        with TraceWriter("runs.trace", payload={"*": "all", "Auth.OUT": "none"}) as sink:
            await network.run(trace=sink)

    Args:
        path: the trace file; created if missing. Runs are added to an existing file.
        batch_size: how many records the runtime buffers before calling ``write()``.
            Each call serialises its batch at once, which frees the records; batches
            small enough to be freed before Python's cyclic garbage collector looks
            at them keep tracing cheap.
        commit_bytes: how much serialised text (1 MiB by default) the writer gathers
            before handing it to its thread to be stored as one chunk. A hand-over
            waits while the thread stores the commit before, and the end of a run waits
            for the last one: smaller commits keep both short (measured: 4 MiB commits
            made a 240,000-IP traced run 25-35% slower), larger ones cost fewer syncs
            of the file per record. A batch smaller than
            ``batch_size`` (the runtime hands records over every 0.05 s and at the end
            of a run) is handed over at once, with everything gathered before it.
        payload: what to keep of payloads: ``"all"``, ``"none"``, a list of field
            names, or a mapping from ``"*"`` and port addresses (``"proc.OUT"``,
            ``"proc.OUT[1]"``) to one of those.
        rotation: for a long-running network, a :class:`~fbp.tracing.Rotation`:
            ``path`` is then a folder (created if missing) of segment files, a new one
            started by size or age, old ones deleted by the retention it sets
            (``docs/operations.md``). :func:`~fbp.tracing.open_trace` reads the folder
            as one trace.

    Raises:
        TraceFileError: the file exists and is not a trace, or cannot be written; with
            a rotation, the path is a file, or another writer owns the folder.
        ValueError: a payload setting is malformed.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        batch_size: int = 256,
        commit_bytes: int = 1 << 20,
        payload: PayloadSetting = "all",
        rotation: Rotation | None = None,
    ) -> None:
        if min(batch_size, commit_bytes) < 1:
            msg = f"batch_size and commit_bytes must be >= 1, not {batch_size} and {commit_bytes}"
            raise ValueError(msg)
        check_setting(payload)
        self.batch_size = batch_size
        self._commit_bytes = commit_bytes
        #: Serialised batches not handed to the thread yet, and their length.
        self._gathered: list[_Encoded] = []
        self._gathered_at = 0.0
        self._gathered_chars = 0
        self.path = os.fspath(path)
        self._setting = payload
        self._queue: queue.Queue[_Encoded | tuple[str, Future[Any], tuple[Any, ...]]]
        self._queue = queue.Queue()
        #: Set by the thread when it has taken the last commit handed over.
        self._taken = threading.Event()
        self._commits = 0
        self._wait_seconds = 0.0
        self._encoder = BatchEncoder({})
        self._encode_seconds = 0.0
        self._failure: BaseException | None = None
        self._failure_reported = False
        self._closed = False
        self._run_id: str | None = None
        self._received = 0
        self._store: RunStore | SegmentedStore  # the thread's alone
        if rotation is None:
            self._store = RunStore(connect_writer(path), self.path)
        else:
            from ._rotation import SegmentedStore, commit_bytes_for

            self._store = SegmentedStore(self.path, rotation)
            self._commit_bytes = commit_bytes_for(rotation, commit_bytes)
        self._thread = threading.Thread(
            target=self._main, name=f"fbp-trace-writer {self.path}", daemon=True
        )
        self._thread.start()
        _live_writers.add(self)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"run {self._run_id!r}" if self._run_id else "idle"
        return f"<TraceWriter {self.path!r} {state}>"

    # -- the TraceSink protocol ---------------------------------------------------------

    def start_run(self, info: RunInfo) -> None:
        """Begin a run: store its graph and ports. Called before any record.

        Raises:
            ValueError: the payload setting names a port this network does not have.
            TraceError: a run is already in progress, or the run id is already in the file.
        """
        self._check_usable()
        if self._run_id is not None:
            msg = (
                f"start_run({info.run_id!r}) while run {self._run_id!r} is in progress;"
                " call finish_run() first"
            )
            raise TraceError(msg)
        modes = resolve_payload_modes(self._setting, info.ports)
        self._call("start", info)
        self._encoder = BatchEncoder(modes, references=True)
        self._run_id = info.run_id

    def write(self, records: list[TraceRecord]) -> None:
        """Take a batch of records; blocks while the writer thread is behind.

        The writer takes the list over: the caller must not change it afterwards. A
        batch smaller than ``batch_size`` is handed to the thread at once with
        everything gathered before it; an empty one (the runtime's timer) hands over
        what is gathered if the first of it was gathered 0.1 s ago or more, so that no
        record waits long in memory.

        Raises:
            TraceWriterError: the writer thread has failed (the cause is chained).
            TraceError: no run was started.
        """
        if self._failure is not None:
            raise self._dead()
        if self._run_id is None:
            self._check_usable()
            msg = "write() before start_run(); the writer needs the run's ports first"
            raise TraceError(msg)
        if not records:
            if self._gathered and time.monotonic() - self._gathered_at >= _GATHERED_MAX_S:
                self._hand_over()
            return
        n = len(records)
        t0 = time.perf_counter()
        rows = self._encoder.encode(records)
        self._encode_seconds += time.perf_counter() - t0
        if not self._gathered:
            self._gathered_at = time.monotonic()
        self._gathered.append(_Encoded(n, rows))
        self._received += n
        self._gathered_chars += len(rows)
        if self._gathered_chars >= self._commit_bytes or n < self.batch_size:
            self._hand_over()

    def _hand_over(self) -> None:
        """Hand what was gathered to the thread; return once the thread has taken it."""
        if not self._gathered:
            return
        commit = _Encoded(*_joined(self._gathered))
        self._gathered = []
        self._encoder.new_commit()  # its payload references are within a commit
        self._gathered_chars = 0
        t0 = time.perf_counter()
        self._taken.clear()
        self._queue.put(commit)
        self._commits += 1
        while not self._taken.wait(timeout=_LIVENESS_S):
            if not self._thread.is_alive():
                break
        self._wait_seconds += time.perf_counter() - t0
        if self._failure is not None:
            err = self._dead()
            raise err from err.__cause__

    def finish_run(self, status: RunStatus, error: str | None, stats: dict[str, Any]) -> None:
        """End the run; returns once every record written so far is durable on disk.

        Raises:
            ValueError: ``status`` is not a run status.
            TraceWriterError: the writer thread has failed.
        """
        if status not in _STATUSES:
            msg = f"finish_run() status must be one of {sorted(_STATUSES)}, not {status!r}"
            raise ValueError(msg)
        self._check_usable()
        if self._run_id is None:
            msg = "finish_run() without a run in progress; call start_run() first"
            raise TraceError(msg)
        self._run_id = None
        self._hand_over()
        self._call("finish", status, error, stats, time.time_ns())

    # -- extras -------------------------------------------------------------------------

    def copy(self, columns: RunColumns, rows: Any, *, port_map: Any = None, dt_ns: int = 0) -> None:
        """Append records of another run as they were stored, after those written so
        far: their ids, parents and payload texts are kept, and nothing is parsed or
        serialised. ``port_map`` (an array, old port id -> port id of this run) and
        ``dt_ns`` (added to the times) fit them to this run. A replay copies in this
        way the records of the processes it does not run.

        The writer's thread does the copying: this returns at once, and records
        written afterwards are stored after the copied ones.

        Raises:
            TraceWriterError: the writer thread has failed.
            TraceError: no run was started.
        """
        import numpy as np

        self._check_usable()
        if self._run_id is None:
            msg = "copy() before start_run(); the writer needs the run's ports first"
            raise TraceError(msg)
        self._hand_over()
        rows = np.asarray(rows, dtype=np.intp)
        _ = columns.payload_data  # read here: the reader's connection is this thread's
        self._received += len(rows)
        for start in range(0, len(rows), _COPY_BLOCK):
            block = rows[start : start + _COPY_BLOCK]
            self._put(("copy", Future(), (columns, block, port_map, dt_ns)))

    def flush(self) -> None:
        """Wait until every record written so far is committed to the file.

        Committed records survive the process being killed; :meth:`finish_run` also
        makes them survive a power cut.
        """
        self._check_usable()
        self._hand_over()
        self._call("flush")

    def close(self) -> None:
        """Finish any run still in progress as ``interrupted``, then stop the thread.

        Raises:
            TraceWriterError: the writer thread failed and no call reported it yet.
        """
        if self._closed:
            return
        stopping = False
        try:
            if self._failure is None and self._run_id is not None:
                self.finish_run("interrupted", "the trace writer was closed during the run", {})
            if self._failure is None:
                fut: Future[Any] = Future()
                self._put(("close", fut, ()))
                stopping = True
                self._wait(fut)
        finally:
            self._closed = True
            _live_writers.discard(self)
            if stopping or self._failure is not None:
                self._thread.join()  # a failed thread ends on its own after releasing callers
        if self._failure is not None and not self._failure_reported:
            raise self._dead()

    def statistics(self) -> WriterStatistics:
        """The writer's counters now."""
        return WriterStatistics(
            received=self._received,
            stored=self._store.stored,
            commits=self._commits,
            encode_seconds=self._encode_seconds,
            wait_seconds=self._wait_seconds,
            store_seconds=self._store.store_seconds,
        )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
            return
        with contextlib.suppress(TraceWriterError):  # the exception in flight matters more
            self.close()

    # -- the caller's side ----------------------------------------------------------------

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise self._dead()
        if self._closed:
            msg = f"the trace writer for {self.path!r} is closed"
            raise TraceError(msg)

    def _dead(self) -> TraceWriterError:
        self._failure_reported = True
        return self._failure_error()

    def _failure_error(self) -> TraceWriterError:
        failure = self._failure
        msg = (
            f"the trace writer for {self.path!r} failed and stored nothing more:"
            f" {type(failure).__name__}: {failure}"
        )
        err = TraceWriterError(msg)
        err.__cause__ = failure
        return err

    def _put(self, item: Any) -> None:
        if not self._thread.is_alive() and self._failure is not None:
            err = self._dead()
            raise err from err.__cause__
        self._queue.put(item)

    def _call(self, op: str, *args: Any) -> Any:
        fut: Future[Any] = Future()
        self._put((op, fut, args))
        return self._wait(fut)

    def _wait(self, fut: Future[Any]) -> Any:
        while True:
            try:
                return fut.result(timeout=_LIVENESS_S)
            except FutureTimeout:
                if not self._thread.is_alive() and not fut.done():
                    err = self._dead()
                    raise err from err.__cause__

    # -- the writer thread ----------------------------------------------------------------

    def _main(self) -> None:
        try:
            self._serve()
        except BaseException as exc:
            self._failure = exc
            self._fail_queued()
            self._taken.set()
        finally:
            with contextlib.suppress(sqlite3.Error):
                self._store.close()

    def _fail_queued(self) -> None:
        """Release every caller waiting on the queue after the thread failed."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, tuple):
                item[1].set_exception(self._failure_error())

    def _serve(self) -> None:
        store, q = self._store, self._queue
        while True:
            item = q.get()
            if isinstance(item, _Encoded):
                # Each hand-over waits for this, so no other commit is queued behind.
                self._taken.set()  # the caller goes on while the commit is stored
                with _prompt_gil():
                    store.append(item.n, item.rows)
                continue
            op, fut, args = item
            if op == "close":
                fut.set_result(None)
                return
            try:
                if op == "start":
                    store.start(*args)
                elif op == "finish":
                    store.finish(*args)
                elif op == "copy":
                    columns, block, port_map, dt_ns = args
                    store.copy(chunk_of(columns, block, port_map=port_map, dt_ns=dt_ns))
            except Exception as exc:
                fut.set_exception(exc)
            else:
                fut.set_result(None)


if TYPE_CHECKING:  # the runtime's contract, checked by mypy
    _sink: type[TraceSink] = TraceWriter
