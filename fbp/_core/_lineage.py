"""The default lineage of a looper's sends: which IPs a send was computed from.

A looper (``run()``) owns its loop, so the runtime cannot see which of the IPs it
received went into what it sends. The rule, applied when a send names no parents:

- The **window** of a send is the data IPs the process received on its stream ports
  (ports with an edge) since its previous data send, on any of its output ports. A
  send with nothing new received has the window of the previous send: a value sent
  to several ports, or several values made from one IP, share their parents.
  The records of the previous window that no send selected by key (see below) open
  the next window.
- From the window, the send's **stream parents** are:

  - the IP whose payload the value sent *is* (the same object), alone: filters,
    routers, merges and copies pass the latest IP on unchanged, sorts and buffers an
    earlier one (for None, bools and small ints, which Python shares between unrelated
    IPs, only the latest counts);
  - when the value is a mapping (a dict, a pydantic model, a dataclass) whose key
    fields (strings, enums, and integer or bool fields named like keys: ``id``,
    ``*_id``, ``key``, ``*_key``, ``uuid``, ``group``, ``bucket``, ``window``,
    ``partition``) agree with some IPs of the window, the IPs that do not disagree
    with it on any of them (aggregates by key);
  - else every IP of the window (maps, windowed batches and other aggregates).

- Every input port fed by IIPs alone (a parameter) adds its IP; unless the value was
  passed on, so does every other input port that received nothing in the window, with
  its latest IP (a slowly changing side input).

Parents are listed window first, in the order received, then by input port.

A window holds records, and so their payloads, until the next send: an aggregating
looper keeps what it aggregates. Past :data:`WINDOW_RECORDS` records, the oldest keep
only their ids and key fields (a few bytes each), still named as parents and matched
by key; past :data:`WINDOW_IDS` of those, the oldest are let go (an aggregate of more
IPs names the latest ones).
"""

from __future__ import annotations

import dataclasses
import enum
from array import array
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from ._record import IP_ID, PAYLOAD

__all__ = (
    "PLAIN",
    "WINDOW_IDS",
    "WINDOW_RECORDS",
    "Older",
    "Window",
    "fields_of",
    "others",
    "window_of",
)

#: How many records a window keeps whole before the oldest are reduced to their ids.
WINDOW_RECORDS = 10_000
#: How many reduced records a window keeps before it lets the oldest go.
WINDOW_IDS = 1_000_000

_KEY_NAMES = frozenset(("id", "key", "uuid", "group", "bucket", "window", "partition"))
_KEY_SUFFIXES = ("_id", "_key", "_uuid")


_SCALARS = frozenset((int, float, str, bool, bytes, type(None), list, tuple))
#: Values that are no mapping and whose parents, unless they are one of the records'
#: payloads, are the whole window (the C path handles these too).
PLAIN = frozenset((int, float, str, bool, type(None)))


def fields_of(value: Any) -> dict[str, Any] | None:
    """The fields of a mapping-like payload (dict, pydantic model, dataclass), or None."""
    t = type(value)
    if t is dict:
        return value  # type: ignore[no-any-return]
    if t in _SCALARS:
        return None
    if isinstance(value, BaseModel):
        return value.__dict__
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        d = getattr(value, "__dict__", None)
        return d if isinstance(d, dict) else None
    return None


def _is_key(name: str, value: Any) -> bool:
    t = type(value)
    if t is str or isinstance(value, enum.Enum):
        return True
    if t is int or t is bool:
        low = name.lower()
        return low in _KEY_NAMES or low.endswith(_KEY_SUFFIXES)
    return False


def _shared(value: Any) -> bool:
    """Whether Python may hand the same object to unrelated IPs (None, bools, small
    ints): only the latest IP received can then be taken as the one passed on."""
    t = type(value)
    return value is None or t is bool or (t is int and -5 <= value <= 256)


class Older:
    """Records of a long window reduced to their ids and key fields."""

    __slots__ = ("ids", "keys")

    def __init__(self) -> None:
        self.ids: array[int] = array("q")
        #: field name -> field value -> ids of the records with that value.
        self.keys: dict[str, dict[Any, array[int]]] = {}

    def let_go(self, n: int) -> None:
        """Forget the ``n`` oldest records."""
        gone = set(self.ids[:n])
        del self.ids[:n]
        for by_value in self.keys.values():
            for v, ids in list(by_value.items()):
                kept = array("q", (i for i in ids if i not in gone))
                if kept:
                    by_value[v] = kept
                else:
                    del by_value[v]

    def add(self, recs: list[Any]) -> None:
        """Keep the ids and key fields of ``recs``."""
        ids, keys = self.ids, self.keys
        for rec in recs:
            ip_id = rec[IP_ID]
            ids.append(ip_id)
            d = fields_of(rec[PAYLOAD])
            if d:
                for name, v in d.items():
                    if _is_key(name, v):
                        keys.setdefault(name, {}).setdefault(v, array("q")).append(ip_id)


class Window:
    """The records a send of several received IPs was computed from."""

    __slots__ = ("_index", "_members", "_objects", "older", "recs", "used")

    def __init__(self, recs: list[Any], older: Older | None) -> None:
        self.recs = recs
        #: Records received before ``recs``, reduced to ids and key fields.
        self.older = older
        #: Positions of the records that sends selected by key (None: no such send).
        self.used: set[int] | None = None
        self._members: set[int] | None = None
        self._objects: dict[int, int] | None = None
        self._index: dict[str, tuple[dict[Any, list[int]], list[int]]] = {}

    def holds(self, rec: Any) -> bool:
        """Whether ``rec`` (a record object) is one of the window's records."""
        members = self._members
        if members is None:
            members = self._members = {id(r) for r in self.recs}
        return id(rec) in members

    def _positions(self, name: str) -> tuple[dict[Any, list[int]], list[int]]:
        """Positions of the records by their value of field ``name``, and of those
        without it."""
        found = self._index.get(name)
        if found is None:
            by: dict[Any, list[int]] = {}
            absent: list[int] = []
            for i, rec in enumerate(self.recs):
                d = fields_of(rec[PAYLOAD])
                if d is None or name not in d:
                    absent.append(i)
                    continue
                try:
                    by.setdefault(d[name], []).append(i)
                except TypeError:  # unhashable: it cannot be a key
                    absent.append(i)
            found = self._index[name] = (by, absent)
        return found

    def by_key(self, value: Any) -> list[int] | None:
        """The ids of the records that ``value``'s key fields select, or None."""
        d = fields_of(value)
        if not d:
            return None
        older = self.older.keys if self.older is not None else {}
        chosen: set[int] | None = None  # positions in recs
        chosen_old: set[int] | None = None  # ids of older records
        for name, v in d.items():
            if not _is_key(name, v):
                continue
            by, absent = self._positions(name)
            hit = by.get(v)
            old_hit = older.get(name, {}).get(v)
            if not hit and not old_hit:
                continue  # no record agrees: not a key of this window
            these = set(hit or ())
            these.update(absent)
            chosen = these if chosen is None else chosen & these
            old_these = set(old_hit or ())
            chosen_old = old_these if chosen_old is None else chosen_old & old_these
        if not chosen and not chosen_old:
            return None
        if chosen:
            self.used = chosen if self.used is None else self.used | chosen
        recs = self.recs
        return sorted(chosen_old or ()) + [recs[i][IP_ID] for i in sorted(chosen or ())]

    def select(self, value: Any) -> tuple[tuple[int, ...], bool]:
        """The stream parents of a send of ``value``, and whether it was passed on."""
        recs = self.recs
        last = recs[-1]
        if value is last[PAYLOAD]:
            return (last[IP_ID],), True
        if len(recs) > 1 and not _shared(value):
            # One of the earlier IPs, passed on (a sort, a buffer released later).
            if len(recs) <= 16:
                for r in reversed(recs):
                    if r[PAYLOAD] is value:
                        return (r[IP_ID],), True
            else:
                objects = self._objects
                if objects is None:
                    objects = self._objects = {id(r[PAYLOAD]): i for i, r in enumerate(recs)}
                i = objects.get(id(value))
                if i is not None and recs[i][PAYLOAD] is value:
                    return (recs[i][IP_ID],), True
        if len(recs) > 1 or self.older is not None:
            chosen = self.by_key(value)
            if chosen is not None:
                return tuple(chosen), False
        ids = [r[IP_ID] for r in recs]
        if self.older is not None:
            return (*self.older.ids, *ids), False
        return tuple(ids), False


def leftover(window: Any) -> list[Any]:
    """The records of a window that no send selected by key, when some send did: they
    belong to a key still to come (the first IP of the next run of a sorted stream)."""
    if type(window) is not Window or window.used is None:
        return []
    used = window.used
    return [r for i, r in enumerate(window.recs) if i not in used]


def window_of(pending: list[Any], older: Older | None) -> Any:
    """The window made of the records received since the last send: the record itself
    when there is one (the common case, which the C fast path reads too), else a
    :class:`Window` (which copies the list)."""
    if len(pending) == 1 and older is None:
        return pending[0]
    return Window(list(pending), older)


def compact(pending: list[Any], older: Older | None) -> Older:
    """Reduce the oldest half of ``pending`` to ids and key fields, in place."""
    cut = len(pending) - WINDOW_RECORDS // 2
    if older is None:
        older = Older()
    older.add(pending[:cut])
    del pending[:cut]
    if len(older.ids) > WINDOW_IDS:
        older.let_go(len(older.ids) - WINDOW_IDS // 2)
    return older


def others(in_list: Iterable[Any], window: Any, passed: bool, nothing: Any) -> list[int]:
    """The parents a send takes from input ports besides its window: every static
    port's latest IP, and, unless the value was passed on, every other port's latest IP
    when it is not in the window."""
    out: list[int] = []
    single = type(window) is tuple
    for p in in_list:
        last = p._last
        if last is nothing:
            continue
        if p.static:
            out.append(last[IP_ID])
        elif passed:
            continue
        elif window is None or (last is not window if single else not window.holds(last)):
            out.append(last[IP_ID])
    return out
