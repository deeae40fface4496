"""The math collection: Add, Multiply, Scale, and the aggregates Sum, Mean and Count."""

from __future__ import annotations

import json
import textwrap
from typing import Any

import pytest

from fbp import Component, InPort, Network, OutPort, ProcessError, port
from fbp.graph import Registry, build_network, loads_graph
from fbp.testing import MemorySink


class Script(Component):
    """Send ITEMS in order; ``["(", tag]`` is an open bracket, ``[")", tag]`` a close."""

    items: InPort[list[Any]] = port(description="what to send")
    out: OutPort[Any] = port(description="the items")

    async def run(self) -> None:
        for item in await self.items.receive():
            if isinstance(item, list) and len(item) == 2 and item[0] in ("(", ")"):
                send = self.out.open_bracket if item[0] == "(" else self.out.close_bracket
                await send(item[1])
            else:
                await self.out.send(item)


REGISTRY = Registry(extra={"test/Script": Script})


async def run(text: str, capacity: int, trace: MemorySink | None = None) -> Network:
    g = loads_graph(textwrap.dedent(text).strip() + "\n", "fbp")
    net = build_network(g, registry=REGISTRY, capacity=capacity, trace=trace)
    await net.run()
    return net


def collected(net: Network, name: str = "C") -> list[Any]:
    return list(net.processes[name].component.items)  # type: ignore[attr-defined]


# -- Add, Multiply, Scale -----------------------------------------------------------------


async def test_add_sums_pairs_and_keeps_ints_as_ints(capacity: int) -> None:
    net = await run(
        """
        4 -> COUNT A(core/Range)
        4 -> COUNT B(core/Range)
        10 -> START B
        A OUT -> A Plus(math/Add)
        B OUT -> B Plus
        Plus SUM -> IN C(core/Collect)
        """,
        capacity,
    )
    got = collected(net)
    assert got == [10, 12, 14, 16]
    assert all(type(v) is int for v in got)


async def test_add_with_an_iip_adds_a_constant_to_every_number(capacity: int) -> None:
    net = await run(
        """
        3 -> COUNT A(core/Range) OUT -> A Inc(math/Add) SUM -> IN C(core/Collect)
        0.5 -> B Inc
        """,
        capacity,
    )
    assert collected(net) == [0.5, 1.5, 2.5]


async def test_multiply_multiplies_pairs(capacity: int) -> None:
    net = await run(
        """
        '[1.5, 2, -3]' -> ITEMS A(test/Script) OUT -> A Times(math/Multiply)
        '[2, 2.5, 4]' -> ITEMS B(test/Script) OUT -> B Times
        Times PRODUCT -> IN C(core/Collect)
        """,
        capacity,
    )
    assert collected(net) == [3.0, 5.0, -12]


async def test_add_parents_are_both_terms() -> None:
    sink = MemorySink()
    await run(
        """
        2 -> COUNT A(core/Range)
        2 -> COUNT B(core/Range)
        A OUT -> A Plus(math/Add)
        B OUT -> B Plus
        Plus SUM -> IN C(core/Drop)
        """,
        1,
        sink,
    )
    a = [r[0] for r in sink.sent("A.OUT")]
    b = [r[0] for r in sink.sent("B.OUT")]
    assert [set(r[5]) for r in sink.sent("Plus.SUM")] == [{a[0], b[0]}, {a[1], b[1]}]


async def test_scale_multiplies_every_number_by_the_factor(capacity: int) -> None:
    net = await run(
        """
        4 -> COUNT S(core/Range) OUT -> IN X(math/Scale) OUT -> IN C(core/Collect)
        3 -> FACTOR X
        """,
        capacity,
    )
    assert collected(net) == [0, 3, 6, 9]


def test_a_text_that_is_not_a_number_is_refused_on_a_number_port() -> None:
    from fbp import GraphValidationError

    g = loads_graph("4 -> COUNT S(core/Range) OUT -> IN X(math/Scale)\n'two' -> FACTOR X\n", "fbp")
    with pytest.raises(GraphValidationError, match=r"X\.FACTOR"):
        build_network(g)


# -- Sum, Mean, Count ---------------------------------------------------------------------


async def test_aggregates_of_a_plain_stream_are_sent_at_its_end(capacity: int) -> None:
    net = await run(
        """
        5 -> COUNT S(core/Range) OUT -> IN R(flow/Replicate)
        R OUT[0] -> IN Total(math/Sum) OUT -> IN Sums(core/Collect)
        R OUT[1] -> IN Avg(math/Mean) OUT -> IN Means(core/Collect)
        R OUT[2] -> IN N(math/Count) OUT -> IN Counts(core/Collect)
        """,
        capacity,
    )
    assert collected(net, "Sums") == [10]
    assert collected(net, "Means") == [2.0]
    assert collected(net, "Counts") == [5]


async def test_aggregates_of_an_empty_stream(capacity: int) -> None:
    net = await run(
        """
        0 -> COUNT S(core/Range) OUT -> IN R(flow/Replicate)
        R OUT[0] -> IN Total(math/Sum) OUT -> IN Sums(core/Collect)
        R OUT[1] -> IN Avg(math/Mean) OUT -> IN Means(core/Collect)
        R OUT[2] -> IN N(math/Count) OUT -> IN Counts(core/Collect)
        """,
        capacity,
    )
    assert collected(net, "Sums") == [0]
    assert collected(net, "Means") == []
    assert collected(net, "Counts") == [0]


SUBSTREAMS = json.dumps(
    [1, ["(", "a"], 2, 3, [")", "a"], ["(", "b"], 4, ["(", "x"], 6, [")", "x"], [")", "b"],
     ["(", "e"], [")", "e"], 5]
)  # fmt: skip


@pytest.mark.parametrize(
    ("component", "expected"),
    [
        # a = 2, 3; b = 4, 6 (nested); e is empty; 1 and 5 are outside any substream.
        ("math/Sum", [5, 10, 0, 6]),
        ("math/Mean", [2.5, 5.0, 3.0]),
        ("math/Count", [2, 2, 0, 2]),
    ],
)
async def test_aggregates_per_outermost_substream_then_the_loose_ips(
    component: str, expected: list[Any], capacity: int
) -> None:
    net = await run(
        f"""
        '{SUBSTREAMS}' -> ITEMS S(test/Script) OUT -> IN A({component}) OUT -> IN C(core/Collect)
        """,
        capacity,
    )
    assert collected(net) == expected


async def test_count_counts_anything_and_sum_only_numbers() -> None:
    net = await run(
        """
        '["a", {"b": 1}, null]' -> ITEMS S(test/Script) OUT -> IN N(math/Count)
        N OUT -> IN C(core/Collect)
        """,
        1,
    )
    assert collected(net) == [3]
    with pytest.raises(ProcessError, match=r"Total.IN expects int \| float"):
        await run(
            """
            '["a"]' -> ITEMS S(test/Script) OUT -> IN Total(math/Sum) OUT -> IN C(core/Drop)
            """,
            1,
        )


async def test_unbalanced_brackets_are_reported_by_the_aggregates() -> None:
    with pytest.raises(ProcessError, match=r"N.IN: a close bracket \(tag 'z'\) arrived outside"):
        await run(
            """
            '[1, [")", "z"]]' -> ITEMS S(test/Script) OUT -> IN N(math/Count) OUT -> IN C(core/Drop)
            """,
            1,
        )
    with pytest.raises(ProcessError, match=r"N.IN: the input ended inside a substream"):
        await run(
            """
            '[["(", "z"], 1]' -> ITEMS S(test/Script) OUT -> IN N(math/Count) OUT -> IN C(core/Drop)
            """,
            1,
        )


async def test_an_aggregate_has_the_ips_it_aggregates_as_parents() -> None:
    sink = MemorySink()
    await run(
        f"""
        '{SUBSTREAMS}' -> ITEMS S(test/Script) OUT -> IN Total(math/Sum) OUT -> IN C(core/Drop)
        """,
        1,
        sink,
    )
    data = {r[6]: r[0] for r in sink.sent("S.OUT") if r[1] == 0}
    sums = sink.sent("Total.OUT")
    assert [r[6] for r in sums] == [5, 10, 0, 6]
    assert [sorted(r[5]) for r in sums] == [
        sorted([data[2], data[3]]),
        sorted([data[4], data[6]]),
        [],
        sorted([data[1], data[5]]),
    ]
