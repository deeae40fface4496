"""The examples collection: the Reading/Scale pair, text helpers, stream shapes, a subnet."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
from fbp_components.examples import Reading

from fbp import DeadlockError, Network, ProcessError
from fbp.graph import build_network, loads_graph


async def run(text: str, capacity: int = 1) -> Network:
    g = loads_graph(textwrap.dedent(text).strip() + "\n", "fbp")
    net = build_network(g, capacity=capacity, deadlock_interval=0.02)
    await net.run()
    return net


def collected(net: Network, name: str = "C") -> list[Any]:
    return list(net.processes[name].component.items)  # type: ignore[attr-defined]


async def test_scale_multiplies_each_reading_by_the_factor(capacity: int) -> None:
    net = await run(
        """
        '{"sensor": "t1", "value": 2.5}' -> IN S(core/Repeat) OUT -> IN X(examples/Scale)
        '{"sensor": "t2", "value": -1}' -> IN S
        2.0 -> FACTOR X
        X OUT -> IN C(core/Collect)
        """,
        capacity,
    )
    assert collected(net) == [Reading(sensor="t1", value=5.0), Reading(sensor="t2", value=-2.0)]


async def test_scale_refuses_a_payload_that_is_not_a_reading() -> None:
    with pytest.raises(ProcessError) as info:
        await run(
            """
            '{"sensor": "t1"}' -> IN S(core/Repeat) OUT -> IN X(examples/Scale)
            2.0 -> FACTOR X
            X OUT -> IN C(core/Drop)
            """
        )
    assert 'X.IN expects Reading but got str \'{"sensor": "t1"}\'' in str(info.value)


async def test_splitwords_gives_lowercased_words_keeping_apostrophes(capacity: int) -> None:
    net = await run(
        """
        "Don't PANIC: it's 42, and_so on." -> IN S(core/Repeat)
        '' -> IN S
        'Élan vital' -> IN S
        S OUT -> IN W(examples/SplitWords) OUT -> IN C(core/Collect)
        """,
        capacity,
    )
    assert collected(net) == ["don't", "panic", "it's", "42", "and", "so", "on", "élan", "vital"]


@pytest.mark.parametrize(("reverse", "expected"), [(False, [1, 2, 3, 5]), (True, [5, 3, 2, 1])])
async def test_sort_sends_the_stream_in_order(
    reverse: bool, expected: list[int], capacity: int
) -> None:
    net = await run(
        f"""
        '[3, 1, 5, 2]' -> IN S(core/Repeat) OUT -> IN U(flow/Unbatch)
        U OUT -> IN Sorted(examples/Sort) OUT -> IN C(core/Collect)
        '{"true" if reverse else "false"}' -> REVERSE Sorted
        """,
        capacity,
    )
    assert collected(net) == expected


async def test_naturals_counts_from_start_until_nobody_reads(capacity: int) -> None:
    net = await run(
        """
        N(examples/Naturals) OUT -> IN T(flow/Take) OUT -> IN C(core/Collect)
        10 -> START N
        3 -> COUNT T
        """,
        capacity,
    )
    assert collected(net) == [10, 11, 12]
    assert net.result().status == "completed"


async def test_concat_sends_the_elements_one_after_another(capacity: int) -> None:
    net = await run(
        """
        3 -> COUNT A(core/Range)
        3 -> COUNT B(core/Range)
        10 -> START B
        B OUT -> IN[1] J(examples/Concat)
        A OUT -> IN[0] J
        J OUT -> IN C(core/Collect)
        """,
        capacity,
    )
    assert collected(net) == [0, 1, 2, 10, 11, 12]


async def test_concat_of_one_source_on_two_elements_deadlocks_on_small_edges() -> None:
    with pytest.raises(DeadlockError) as info:
        await run(
            """
            10 -> COUNT S(core/Range) OUT -> IN R(flow/Replicate)
            R OUT[0] -> IN[0] J(examples/Concat)
            R OUT[1] -> IN[1] J
            J OUT -> IN C(core/Drop)
            """
        )
    assert sorted(info.value.cycle) == [
        "J waits to receive on J.IN[0] (empty; open senders: R)",
        "R waits to send on J.IN[1] (full 1/1)",
    ]


async def test_the_double_subnet_doubles_every_number(capacity: int) -> None:
    net = await run(
        """
        3 -> COUNT S(core/Range) OUT -> IN D(examples/Double) OUT -> IN C(core/Collect)
        """,
        capacity,
    )
    assert collected(net) == [0, 2, 4]
    assert "D/Times" in net.processes
