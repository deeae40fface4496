"""The trace record: its kinds and its layout, defined once.

A traced send makes one plain tuple that is both the IP's trace entry and what the
channel carries (see :mod:`fbp._core._tracehook` for what each field means)::

    (ip_id, kind, port_id, activation, t_ns, parents, payload)

Every place that builds or reads a record uses the names below: the :class:`Kind`
enum for the ``kind`` field, the index constants (``IP_ID`` ... ``PAYLOAD``) for the
positions, and :data:`PROTOCOL_COMMANDS` for how the FBP protocol and Flowtrace name
the kinds they show. The trace file stores the kinds as these same integers and names
them in its ``kinds`` table by :attr:`Kind.label`. The C fast path
(``fbp/_core/_accel.c``) is given the data kind by :mod:`fbp._core._port_variants`,
and the trace's column splitter (``fbp/tracing/_split.c``) reads records by these
positions (``tests/test_record.py`` checks both).

The module-level constants are the enum's plain ints, not its members: a record holds
ints, and comparing or storing a module constant costs what a literal costs.
"""

from __future__ import annotations

import enum
from typing import Any, Final

__all__ = (
    "ACTIVATION",
    "CLOSE",
    "DATA",
    "DEAD",
    "DEFINING",
    "DROP",
    "FIELDS",
    "IIP",
    "IP_ID",
    "KIND",
    "OPEN",
    "PARENTS",
    "PAYLOAD",
    "PORT_ID",
    "PROTOCOL_COMMANDS",
    "SENT",
    "T_NS",
    "Kind",
    "TraceRecord",
)


class Kind(enum.IntEnum):
    """What a record records.

    ``DATA``, ``OPEN`` and ``CLOSE`` are IPs sent on an output port (a data IP, the
    open and close brackets of a substream); ``IIP`` an initial IP given to an input
    port; ``DROP`` marks an IP (recorded before) that a full channel dropped under the
    drop-oldest policy; ``DEAD`` marks a dead letter sent on an ERROR port (the data
    record of that IP follows it).
    """

    DATA = 0
    OPEN = 1
    CLOSE = 2
    IIP = 3
    DROP = 4
    DEAD = 5

    @property
    def label(self) -> str:
        """The kind's name in the trace file and on the command line: ``"data"``..."""
        return self.name.lower()


DATA: Final[int] = Kind.DATA.value
OPEN: Final[int] = Kind.OPEN.value
CLOSE: Final[int] = Kind.CLOSE.value
IIP: Final[int] = Kind.IIP.value
DROP: Final[int] = Kind.DROP.value
DEAD: Final[int] = Kind.DEAD.value

#: The kinds of IPs sent on output ports (a data IP or a bracket): ``kind <= SENT``.
SENT: Final[int] = CLOSE
#: The kinds of records that define an IP (sent or given as an IIP), not markers of
#: one recorded before: ``kind <= DEFINING``.
DEFINING: Final[int] = IIP

#: How the FBP network protocol and Flowtrace name the kinds they show (markers have
#: no event).
PROTOCOL_COMMANDS: Final[dict[int, str]] = {
    DATA: "data",
    IIP: "data",
    OPEN: "begingroup",
    CLOSE: "endgroup",
}

#: The record's fields, in order.
FIELDS: Final = ("ip_id", "kind", "port_id", "activation", "t_ns", "parents", "payload")

IP_ID: Final = 0
KIND: Final = 1
PORT_ID: Final = 2
ACTIVATION: Final = 3
T_NS: Final = 4
PARENTS: Final = 5
PAYLOAD: Final = 6

#: ``(ip_id, kind, port_id, activation, t_ns, parents, payload)``.
TraceRecord = tuple[int, int, int, int, int, tuple[int, ...], Any]
