"""Vectorised lineage joins: which unit of work every IP of a run belongs to.

The trace gives, per data IP, its port and its parents. Two propagations over the
parent links answer the questions of the table assembly, one output port at a time
in the topological order of the ports (a port's IPs descend only from IPs of the ports
before it), each a handful of numpy operations over that port's links:

- :func:`descend`: for every IP, the *seeds* it descends from (seeds map to
  themselves). With the data roots (data IPs none of whose parents is a data IP: the
  units of work) as seeds this is the set of data roots of every IP; with
  the IPs of an aggregating port, which aggregate each IP comes from.
- :func:`ascend`: for every IP, the seeds it is an ancestor of (the inputs of each
  aggregate).

A mapping is stored as one dense array indexed by IP id (the seed, when an IP has
exactly one, the common case) plus pairs for the IPs with several; only those go
through a merge. Ports in a lineage loop (a looper naming its own earlier output as a
parent) are resolved record by record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ...tracing import RunFrames

__all__ = ("Lineage", "Mapping", "agree", "ascend", "data_roots", "descend", "lineage_of")

_NONE, _MANY = -1, -2


@dataclass
class Lineage:
    """The data IPs of a run and the links between them."""

    #: port id of every data IP, indexed by IP id (-1: not a data IP).
    port_of: np.ndarray
    #: Data links (both ends data IPs): child and parent ids.
    child: np.ndarray
    parent: np.ndarray
    #: Output ports with data IPs, parents before children.
    order: list[int]
    #: Ports whose IPs descend from IPs of the same port or a later one (a loop).
    looped: set[int]
    #: The ports' graph: an edge where an IP of one is a parent of an IP of the other.
    graph: Any = None
    #: Data IP ids per port, in id order.
    ids: dict[int, np.ndarray] = field(default_factory=dict)
    #: Per child port and per parent port, the positions of its links.
    _into: dict[int, np.ndarray] = field(default_factory=dict)
    _from: dict[int, np.ndarray] | None = None

    def links_into(self, port: int) -> tuple[np.ndarray, np.ndarray]:
        """(child, parent) of the links whose child is on ``port``."""
        sel = self._into.get(port)
        if sel is None:
            return self.child[:0], self.parent[:0]
        return self.child[sel], self.parent[sel]

    def links_from(self, port: int) -> tuple[np.ndarray, np.ndarray]:
        """(child, parent) of the links whose parent is on ``port``."""
        if self._from is None:  # made on first use (aggregates only)
            pport = self.port_of[self.parent]
            by_parent = _stable_order(pport)
            self._from = {p: by_parent[sl] for p, sl in _slices(pport[by_parent]).items()}
        sel = self._from.get(port)
        if sel is None:
            return self.child[:0], self.parent[:0]
        return self.child[sel], self.parent[sel]


def _slices(keys: np.ndarray) -> dict[int, slice]:
    """Slices of runs of equal values in sorted ``keys``."""
    if not len(keys):
        return {}
    cuts = np.flatnonzero(np.diff(keys)) + 1
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts, [len(keys)]])
    return {int(keys[a]): slice(int(a), int(b)) for a, b in zip(starts, ends, strict=True)}


def _stable_order(keys: np.ndarray) -> np.ndarray:
    """``np.argsort(keys, kind="stable")``; small non-negative keys (port ids) as 16
    bits, which numpy sorts by radix (several times faster)."""
    if len(keys) and keys.min() >= 0 and keys.max() < 1 << 16:
        keys = keys.astype(np.uint16)
    return np.argsort(keys, kind="stable")


def lineage_of(frames: RunFrames) -> Lineage:
    """Index the data IPs and data links of a run."""
    from ...tracing._columns import small_pages

    with small_pages():  # large temporary arrays (see small_pages)
        return _lineage_of(frames)


def _lineage_of(frames: RunFrames) -> Lineage:
    import networkx as nx

    ids = frames.data_ips()  # per port, in write order
    size = max((int(x.max()) for x in ids.values() if len(x)), default=0) + 1
    port_of: np.ndarray = np.full(size, -1, dtype=np.int32)
    for pid, mine in ids.items():
        port_of[mine] = pid
    # The data links (both ends data IPs), made a block of records at a time: a run's
    # links outnumber its IPs (IIP parents), and arrays of all of them would double
    # the memory.
    child, parent = frames.data_links(port_of >= 0)
    cport = port_of[child]
    by_child = _stable_order(cport)
    into = {p: by_child[sl] for p, sl in _slices(cport[by_child]).items()}
    # IP ids per port, in id order (a port's IPs are written in the order they were
    # sent, which is id order: only a port where they are not is sorted).
    for pid, mine in ids.items():
        if len(mine) > 1 and (mine[1:] < mine[:-1]).any():
            ids[pid] = np.sort(mine)
    g = nx.DiGraph()
    g.add_nodes_from(ids)
    if len(child):
        # The ports' graph: one key per (parent port, child port) pair of a link.
        n = int(port_of.max()) + 1
        kt = np.int32 if n * n < 1 << 31 else np.int64
        keys: np.ndarray = port_of[parent].astype(kt)
        np.multiply(keys, n, out=keys)
        np.add(keys, cport, out=keys)
        del cport
        keys = np.flatnonzero(np.bincount(keys)) if n <= 2048 else np.unique(keys)
        g.add_edges_from(zip((keys // n).tolist(), (keys % n).tolist(), strict=True))
    looped: set[int] = set()
    for comp in nx.strongly_connected_components(g):
        if len(comp) > 1 or any(g.has_edge(p, p) for p in comp):
            looped |= comp
    cond = nx.condensation(g)
    order: list[int] = []
    for c in nx.topological_sort(cond):
        order.extend(sorted(cond.nodes[c]["members"]))
    return Lineage(port_of, child, parent, order, looped, g, ids, into)


@dataclass
class Mapping:
    """IP id -> seeds, as a dense array plus pairs for IPs with several seeds."""

    one: np.ndarray
    many_ip: np.ndarray
    many_seed: np.ndarray

    def pairs(self, ips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ip, seed) for every seed of each of ``ips`` (IPs without one left out)."""
        s = self.one[ips]
        single = s >= 0
        ip1, seed1 = ips[single], s[single]
        multi = ips[s == _MANY]
        if not len(multi):
            return ip1, seed1
        hit = np.isin(self.many_ip, multi)
        return np.concatenate([ip1, self.many_ip[hit]]), np.concatenate(
            [seed1, self.many_seed[hit]]
        )


class _Builder:
    """A mapping being built port by port."""

    def __init__(self, size: int, seeds: np.ndarray) -> None:
        self.scratch = np.zeros(size, dtype=np.int64)
        self.one = np.full(size, _NONE, dtype=np.int64)
        self.one[seeds] = seeds
        self.many_ip: list[np.ndarray] = []
        self.many_seed: list[np.ndarray] = []
        self._frame: Any = None  # the pairs so far as a DataFrame, for merges

    def _many(self) -> Any:
        import pandas as pd

        if self._frame is None:
            self._frame = pd.DataFrame(
                {
                    "src": np.concatenate(self.many_ip) if self.many_ip else np.zeros(0, np.int64),
                    "seed": np.concatenate(self.many_seed)
                    if self.many_seed
                    else np.zeros(0, np.int64),
                }
            )
        return self._frame

    def spread(self, to: np.ndarray, frm: np.ndarray) -> None:
        """Give every IP of ``to`` the seeds of the matching IP of ``frm``."""
        import pandas as pd

        if not len(to):
            return
        s = self.one[frm]
        if (s >= 0).all() and (self.one[to] == _NONE).all() and agree(to, s, self.scratch):
            # Every IP's links come from IPs of one seed, the same for all of its
            # links (one link per IP, or a join of branches of one root): the common case.
            self.one[to] = s
            return
        single = s >= 0
        to_ip, seed = [to[single]], [s[single]]
        multi = s == _MANY
        if multi.any():
            m = pd.DataFrame({"to": to[multi], "src": frm[multi]}).merge(self._many(), on="src")
            to_ip.append(m["to"].to_numpy())
            seed.append(m["seed"].to_numpy())
        a, b = np.concatenate(to_ip), np.concatenate(seed)
        if not len(a):
            return
        # Keep the seeds the IPs may already have (a seed reached twice counts once).
        have = self.one[a]
        a = np.concatenate([a, a[have >= 0]])
        b = np.concatenate([b, have[have >= 0]])
        if len(self.one) < 1 << 31:  # one sort of int64 keys
            key = np.unique((a << 32) | b)
            a, b = key >> 32, key & 0xFFFFFFFF
        else:
            pairs = np.unique(np.stack([a, b], axis=1), axis=0)
            a, b = pairs[:, 0], pairs[:, 1]
        first = np.ones(len(a), dtype=bool)
        first[1:] = a[1:] != a[:-1]
        counts = np.diff(np.append(np.flatnonzero(first), len(a)))
        heads = a[first]
        self.one[heads[counts == 1]] = b[first][counts == 1]
        several = np.repeat(counts > 1, counts)
        if several.any():
            self.one[heads[counts > 1]] = _MANY
            self.many_ip.append(a[several])
            self.many_seed.append(b[several])
            self._frame = None

    def one_by_one(self, child: np.ndarray, parent: np.ndarray, down: bool) -> None:
        """Follow links one at a time, in id order (ports in a lineage loop)."""
        got: dict[int, set[int]] = {}
        frm, to = (parent, child) if down else (child, parent)
        order = np.argsort(child if down else -parent, kind="stable")
        many = self._many()
        extra: dict[int, list[int]] = {}
        for i, s in zip(
            many["src"].to_numpy().tolist(), many["seed"].to_numpy().tolist(), strict=True
        ):
            extra.setdefault(i, []).append(s)
        for k in order.tolist():
            f, t = int(frm[k]), int(to[k])
            seeds = got.get(f)
            if seeds is None:
                o = int(self.one[f])
                seeds = {o} if o >= 0 else set(extra.get(f, ())) if o == _MANY else set()
            if seeds:
                mine = got.setdefault(t, set())
                o = int(self.one[t])
                if o >= 0:
                    mine.add(o)
                mine |= seeds
        for t, seeds in got.items():
            if len(seeds) == 1:
                self.one[t] = next(iter(seeds))
            else:
                self.one[t] = _MANY
                self.many_ip.append(np.full(len(seeds), t, dtype=np.int64))
                self.many_seed.append(np.array(sorted(seeds), dtype=np.int64))
        self._frame = None

    def done(self) -> Mapping:
        many = self._many()
        return Mapping(self.one, many["src"].to_numpy(), many["seed"].to_numpy())


def descend(lin: Lineage, seeds: np.ndarray) -> Mapping:
    """For every IP, the seeds it descends from (a seed maps to itself)."""
    return _walk(lin, seeds, down=True)


def ascend(lin: Lineage, seeds: np.ndarray) -> Mapping:
    """For every IP, the seeds it is an ancestor of (a seed maps to itself)."""
    return _walk(lin, seeds, down=False)


def _walk(lin: Lineage, seeds: np.ndarray, *, down: bool) -> Mapping:
    """Carry the seeds along the links port by port: downstream, from parents to
    children in the ports' order, or upstream, from children to parents in reverse."""
    b = _Builder(len(lin.port_of), seeds)
    for port in lin.order if down else reversed(lin.order):
        child, parent = lin.links_into(port) if down else lin.links_from(port)
        if port in lin.looped:
            b.one_by_one(child, parent, down=down)
        elif down:
            b.spread(child, parent)
        else:
            b.spread(parent, child)
    return b.done()


def agree(ids: np.ndarray, values: np.ndarray, scratch: np.ndarray) -> bool:
    """Whether every repeated value of ``ids`` goes with the same one of ``values``
    (``scratch``: an array as long as the largest id; one pass, no sort)."""
    scratch[ids] = values
    return bool((scratch[ids] == values).all())


def data_roots(lin: Lineage) -> np.ndarray:
    """Data IPs with no data parent (the units of work), in id order.

    Not :meth:`fbp.tracing.TracedRun.roots_of`'s roots, which are IPs with no parent at
    all, IIPs included: here an IIP is a parameter, and what it feeds is a data root.
    """
    has_parent = np.zeros(len(lin.port_of), dtype=bool)
    has_parent[lin.child] = True
    data = np.flatnonzero(lin.port_of >= 0)
    return data[~has_parent[data]]
