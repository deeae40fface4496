"""The flow collection: Filter, Map, Split, Take, Merge, Replicate, Zip, Collate,
GroupBy, Batch and Unbatch, run in networks at several edge capacities."""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from typing import Any

import pytest

from fbp import (
    Component,
    DeadlockError,
    GraphValidationError,
    InPort,
    Network,
    OutPort,
    ProcessError,
    port,
)
from fbp.graph import Graph, Registry, build_network, loads_graph
from fbp.testing import MemorySink

# -- helpers -------------------------------------------------------------------------------


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


class Packets(Component):
    """Record every IP, brackets as ``("(", tag)`` and ``(")", tag)``."""

    in_: InPort[Any] = port(description="IPs to record")

    seen: list[Any]

    async def run(self) -> None:
        self.seen = []
        async for ip in self.in_.packets():
            if ip.is_data:
                self.seen.append(ip.payload)
            else:
                self.seen.append(("(" if ip.is_open else ")", ip.payload))


REGISTRY = Registry(extra={"test/Script": Script, "test/Packets": Packets})


def graph(text: str) -> Graph:
    return loads_graph(textwrap.dedent(text).strip() + "\n", "fbp")


async def run(text: str, capacity: int, trace: MemorySink | None = None) -> Network:
    net = build_network(graph(text), registry=REGISTRY, capacity=capacity, trace=trace)
    await net.run()
    return net


def collected(net: Network, name: str = "C") -> list[Any]:
    comp: Any = net.processes[name].component
    return list(comp.items if hasattr(comp, "items") else comp.seen)


def check_fails(text: str) -> str:
    with pytest.raises(GraphValidationError) as info:
        build_network(graph(text), registry=REGISTRY)
    return str(info.value)


# -- Filter, Map, Split ------------------------------------------------------------------


async def test_filter_keeps_the_ips_for_which_the_expression_is_true(capacity: int) -> None:
    net = await run(
        """
        '[{"value": 1}, {"value": 5}, {"value": 3}, {"value": 4}]' -> ITEMS S(test/Script)
        S OUT -> IN F(flow/Filter) OUT -> IN C(core/Collect)
        'x.value > 3' -> EXPR F
        """,
        capacity,
    )
    assert collected(net) == [{"value": 5}, {"value": 4}]


async def test_map_replaces_each_ip_by_the_expression(capacity: int) -> None:
    net = await run(
        """
        '[{"id": 1, "v": 10}, {"id": 2, "v": 20}]' -> ITEMS S(test/Script)
        S OUT -> IN M(flow/Map) OUT -> IN C(core/Collect)
        "{'id': x['id'], 'v': x['v'] + 1}" -> EXPR M
        """,
        capacity,
    )
    assert collected(net) == [{"id": 1, "v": 11}, {"id": 2, "v": 21}]


async def test_split_routes_to_match_and_rest_and_brackets_to_both(capacity: int) -> None:
    net = await run(
        """
        '[["(", "g"], 1, 2, 3, 4, [")", "g"], 5]' -> ITEMS S(test/Script)
        S OUT -> IN P(flow/Split)
        'x % 2 == 0' -> EXPR P
        P MATCH -> IN Even(test/Packets)
        P REST -> IN Odd(test/Packets)
        """,
        capacity,
    )
    assert collected(net, "Even") == [("(", "g"), 2, 4, (")", "g")]
    assert collected(net, "Odd") == [("(", "g"), 1, 3, (")", "g"), 5]


async def test_split_with_only_match_connected_drops_the_rest(capacity: int) -> None:
    net = await run(
        """
        '[1, 2, 3, 4]' -> ITEMS S(test/Script) OUT -> IN P(flow/Split)
        'x > 2' -> EXPR P
        P MATCH -> IN C(core/Collect)
        """,
        capacity,
    )
    assert collected(net) == [3, 4]


def test_a_bad_expression_iip_is_reported_before_the_network_runs() -> None:
    msg = check_fails(
        """
        '[1]' -> ITEMS S(test/Script) OUT -> IN F(flow/Filter) OUT -> IN C(core/Drop)
        'x.__class__ == 1' -> EXPR F
        """
    )
    assert "F.EXPR" in msg
    assert "expression 'x.__class__ == 1', at 'x.__class__' (column 1)" in msg
    assert "private or internal" in msg


def test_an_expression_iip_that_is_not_text_is_reported() -> None:
    msg = check_fails(
        """
        '[1]' -> ITEMS S(test/Script) OUT -> IN M(flow/Map) OUT -> IN C(core/Drop)
        3 -> EXPR M
        """
    )
    assert "M.EXPR" in msg
    assert "an expression must be a string of text, not int 3" in msg


async def test_an_expression_failing_on_an_ip_names_process_expression_and_value() -> None:
    with pytest.raises(ProcessError) as info:
        await run(
            """
            '[{"v": 1}, {"w": 2}]' -> ITEMS S(test/Script) OUT -> IN M(flow/Map)
            "x['v']" -> EXPR M
            M OUT -> IN C(core/Drop)
            """,
            1,
        )
    msg = str(info.value)
    assert "process 'M' (flow/Map)" in msg
    assert "expression \"x['v']\": failed on dict {'w': 2}: KeyError: 'v'" in msg


# -- Take ---------------------------------------------------------------------------------


async def test_take_passes_the_first_n_then_stops_an_endless_source(capacity: int) -> None:
    net = await run(
        """
        N(examples/Naturals) OUT -> IN Double(flow/Map) OUT -> IN T(flow/Take)
        'x * 2' -> EXPR Double
        5 -> COUNT T
        T OUT -> IN C(core/Collect)
        """,
        capacity,
    )
    assert collected(net) == [0, 2, 4, 6, 8]
    result = net.result()
    assert result.status == "completed"
    assert all(p.ended for p in result.processes)
    sent = {p.name: p.sent for p in result.processes}
    # The source stopped within a few IPs of the cut, however the edges buffer.
    assert sent["N"] <= 5 + 2 * (capacity + 1) + 2


async def test_take_zero_passes_nothing(capacity: int) -> None:
    net = await run(
        """
        N(examples/Naturals) OUT -> IN T(flow/Take) OUT -> IN C(core/Collect)
        0 -> COUNT T
        """,
        capacity,
    )
    assert collected(net) == []


async def test_take_of_a_short_stream_passes_all_of_it(capacity: int) -> None:
    net = await run(
        """
        '[1, 2]' -> ITEMS S(test/Script) OUT -> IN T(flow/Take) OUT -> IN C(core/Collect)
        10 -> COUNT T
        """,
        capacity,
    )
    assert collected(net) == [1, 2]


async def test_take_refuses_a_negative_count() -> None:
    with pytest.raises(ProcessError, match=r"T.COUNT must be 0 or more, got -1"):
        await run(
            """
            N(examples/Naturals) OUT -> IN T(flow/Take) OUT -> IN C(core/Drop)
            -1 -> COUNT T
            """,
            1,
        )


# -- Merge, Replicate, Zip ----------------------------------------------------------------


async def test_merge_gives_every_ip_keeping_each_elements_order(capacity: int) -> None:
    net = await run(
        """
        20 -> COUNT A(core/Range)
        20 -> COUNT B(core/Range)
        100 -> START B
        '["x", "y"]' -> ITEMS S(test/Script)
        A OUT -> IN[0] M(flow/Merge)
        B OUT -> IN[1] M
        S OUT -> IN[2] M
        M OUT -> IN C(core/Collect)
        """,
        capacity,
    )
    got = collected(net)
    assert Counter(got) == Counter([*range(20), *range(100, 120), "x", "y"])
    assert [v for v in got if isinstance(v, int) and v < 100] == list(range(20))
    assert [v for v in got if isinstance(v, int) and v >= 100] == list(range(100, 120))
    assert [v for v in got if isinstance(v, str)] == ["x", "y"]


async def test_merge_parents_are_the_merged_ip_alone() -> None:
    sink = MemorySink()
    await run(
        """
        3 -> COUNT A(core/Range)
        3 -> COUNT B(core/Range)
        A OUT -> IN[0] M(flow/Merge)
        B OUT -> IN[1] M
        M OUT -> IN C(core/Drop)
        """,
        1,
        sink,
    )
    sources = {r[0] for r in sink.sent("A.OUT") + sink.sent("B.OUT")}
    merged = sink.sent("M.OUT")
    assert len(merged) == 6
    assert all(len(r[5]) == 1 and r[5][0] in sources for r in merged)
    assert len({r[5][0] for r in merged}) == 6


async def test_replicate_sends_every_ip_to_each_element(capacity: int) -> None:
    net = await run(
        """
        '[1, ["(", "g"], 2, [")", "g"]]' -> ITEMS S(test/Script) OUT -> IN R(flow/Replicate)
        R OUT[0] -> IN A(test/Packets)
        R OUT[1] -> IN B(test/Packets)
        R OUT[2] -> IN C(test/Packets)
        """,
        capacity,
    )
    expected = [1, ("(", "g"), 2, (")", "g")]
    assert collected(net, "A") == collected(net, "B") == collected(net, "C") == expected


async def test_replicate_goes_on_when_one_receiver_has_ended(capacity: int) -> None:
    net = await run(
        """
        10 -> COUNT S(core/Range) OUT -> IN R(flow/Replicate)
        R OUT[0] -> IN T(flow/Take) OUT -> IN Few(core/Collect)
        2 -> COUNT T
        R OUT[1] -> IN All(core/Collect)
        """,
        capacity,
    )
    assert collected(net, "Few") == [0, 1]
    assert collected(net, "All") == list(range(10))


async def test_replicate_ends_once_every_receiver_has_ended(capacity: int) -> None:
    net = await run(
        """
        N(examples/Naturals) OUT -> IN R(flow/Replicate)
        R OUT[0] -> IN T1(flow/Take) OUT -> IN A(core/Collect)
        R OUT[1] -> IN T2(flow/Take) OUT -> IN B(core/Collect)
        2 -> COUNT T1
        4 -> COUNT T2
        """,
        capacity,
    )
    assert collected(net, "A") == [0, 1]
    assert collected(net, "B") == [0, 1, 2, 3]


async def test_zip_pairs_the_nth_ips_until_the_shorter_stream_ends(capacity: int) -> None:
    net = await run(
        """
        '["a", "b", "c"]' -> ITEMS L(test/Script)
        5 -> COUNT N(core/Range)
        L OUT -> A Z(flow/Zip)
        N OUT -> B Z
        Z OUT -> IN C(core/Collect)
        """,
        capacity,
    )
    assert collected(net) == [("a", 0), ("b", 1), ("c", 2)]


async def test_zip_parents_are_both_halves() -> None:
    sink = MemorySink()
    await run(
        """
        2 -> COUNT A(core/Range)
        2 -> COUNT B(core/Range)
        A OUT -> A Z(flow/Zip)
        B OUT -> B Z
        Z OUT -> IN C(core/Drop)
        """,
        1,
        sink,
    )
    a = [r[0] for r in sink.sent("A.OUT")]
    b = [r[0] for r in sink.sent("B.OUT")]
    assert [set(r[5]) for r in sink.sent("Z.OUT")] == [{a[0], b[0]}, {a[1], b[1]}]


# -- Collate, GroupBy ---------------------------------------------------------------------


async def test_collate_brackets_each_run_of_equal_keys(capacity: int) -> None:
    items = [{"k": 1, "v": "a"}, {"k": 1, "v": "b"}, {"k": 2, "v": "c"}, {"k": 1, "v": "d"}]
    net = await run(
        f"""
        '{json.dumps(items)}' -> ITEMS S(test/Script)
        S OUT -> IN Co(flow/Collate) OUT -> IN C(test/Packets)
        'x.k' -> KEY Co
        """,
        capacity,
    )
    assert collected(net) == [
        ("(", 1),
        {"k": 1, "v": "a"},
        {"k": 1, "v": "b"},
        (")", 1),
        ("(", 2),
        {"k": 2, "v": "c"},
        (")", 2),
        ("(", 1),
        {"k": 1, "v": "d"},
        (")", 1),
    ]


async def test_collate_nests_runs_inside_incoming_substreams(capacity: int) -> None:
    net = await run(
        """
        '[["(", "day1"], 1, 1, 2, [")", "day1"], 2]' -> ITEMS S(test/Script)
        S OUT -> IN Co(flow/Collate) OUT -> IN C(test/Packets)
        'x' -> KEY Co
        """,
        capacity,
    )
    assert collected(net) == [
        ("(", "day1"),
        ("(", 1), 1, 1, (")", 1),
        ("(", 2), 2, (")", 2),
        (")", "day1"),
        ("(", 2), 2, (")", 2),
    ]  # fmt: skip


async def test_collate_of_an_empty_stream_sends_nothing(capacity: int) -> None:
    net = await run(
        """
        '[]' -> ITEMS S(test/Script) OUT -> IN Co(flow/Collate) OUT -> IN C(test/Packets)
        'x' -> KEY Co
        """,
        capacity,
    )
    assert collected(net) == []


async def test_collate_then_groupby_gives_one_list_per_run(capacity: int) -> None:
    net = await run(
        """
        '["a", "a", "b", "c", "c", "c"]' -> ITEMS S(test/Script)
        S OUT -> IN Co(flow/Collate) OUT -> IN G(flow/GroupBy) OUT -> IN C(core/Collect)
        'x' -> KEY Co
        """,
        capacity,
    )
    assert collected(net) == [["a", "a"], ["b"], ["c", "c", "c"]]


async def test_groupby_flattens_nested_substreams_and_wraps_loose_ips(capacity: int) -> None:
    items = [0, ["(", "a"], 1, ["(", "b"], 2, [")", "b"], 3, [")", "a"], ["(", "e"], [")", "e"], 4]
    net = await run(
        f"""
        '{json.dumps(items)}' -> ITEMS S(test/Script)
        S OUT -> IN G(flow/GroupBy) OUT -> IN C(core/Collect)
        """,
        capacity,
    )
    assert collected(net) == [[0], [1, 2, 3], [], [4]]


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ('[1, [")", "a"]]', "G.IN: a close bracket (tag 'a') arrived outside any substream"),
        ('[["(", "a"], 1]', "G.IN: the input ended inside a substream (1 open bracket(s)"),
    ],
)
async def test_groupby_reports_unbalanced_brackets(items: str, message: str) -> None:
    with pytest.raises(ProcessError, match=message.replace("(", r"\(").replace(")", r"\)")):
        await run(
            f"""
            '{items}' -> ITEMS S(test/Script) OUT -> IN G(flow/GroupBy) OUT -> IN C(core/Drop)
            """,
            1,
        )


async def test_groupby_lists_have_their_items_as_parents() -> None:
    sink = MemorySink()
    await run(
        """
        '["a", "a", "b"]' -> ITEMS S(test/Script)
        S OUT -> IN Co(flow/Collate) OUT -> IN G(flow/GroupBy) OUT -> IN C(core/Drop)
        'x' -> KEY Co
        """,
        1,
        sink,
    )
    data = [r[0] for r in sink.sent("Co.OUT") if r[1] == 0]
    groups = sink.sent("G.OUT")
    assert [r[6] for r in groups] == [["a", "a"], ["b"]]
    assert [list(r[5]) for r in groups] == [data[:2], data[2:]]


# -- Batch, Unbatch -----------------------------------------------------------------------


async def test_batch_makes_lists_of_size_with_a_shorter_last(capacity: int) -> None:
    net = await run(
        """
        7 -> COUNT S(core/Range) OUT -> IN B(flow/Batch) OUT -> IN C(core/Collect)
        3 -> SIZE B
        """,
        capacity,
    )
    assert collected(net) == [[0, 1, 2], [3, 4, 5], [6]]


async def test_batch_lists_do_not_span_substreams(capacity: int) -> None:
    net = await run(
        """
        '[1, ["(", "g"], 2, 3, 4, [")", "g"], 5]' -> ITEMS S(test/Script)
        S OUT -> IN B(flow/Batch) OUT -> IN C(test/Packets)
        2 -> SIZE B
        """,
        capacity,
    )
    assert collected(net) == [[1], ("(", "g"), [2, 3], [4], (")", "g"), [5]]


async def test_batch_lists_have_their_items_as_parents() -> None:
    sink = MemorySink()
    await run(
        """
        5 -> COUNT S(core/Range) OUT -> IN B(flow/Batch) OUT -> IN C(core/Drop)
        2 -> SIZE B
        """,
        1,
        sink,
    )
    items = [r[0] for r in sink.sent("S.OUT")]
    assert [list(r[5]) for r in sink.sent("B.OUT")] == [items[0:2], items[2:4], items[4:]]


async def test_batch_refuses_a_size_below_one() -> None:
    with pytest.raises(ProcessError, match=r"B.SIZE must be 1 or more, got 0"):
        await run(
            """
            5 -> COUNT S(core/Range) OUT -> IN B(flow/Batch) OUT -> IN C(core/Drop)
            0 -> SIZE B
            """,
            1,
        )


async def test_unbatch_undoes_batch(capacity: int) -> None:
    net = await run(
        """
        10 -> COUNT S(core/Range) OUT -> IN B(flow/Batch) OUT -> IN U(flow/Unbatch)
        4 -> SIZE B
        U OUT -> IN C(core/Collect)
        """,
        capacity,
    )
    assert collected(net) == list(range(10))


async def test_unbatch_items_have_their_list_as_parent() -> None:
    sink = MemorySink()
    await run(
        """
        '[[1, 2], [3]]' -> ITEMS S(test/Script) OUT -> IN U(flow/Unbatch) OUT -> IN C(core/Drop)
        """,
        1,
        sink,
    )
    lists = [r[0] for r in sink.sent("S.OUT")]
    assert [r[5][0] for r in sink.sent("U.OUT")] == [lists[0], lists[0], lists[1]]


# -- back-pressure ------------------------------------------------------------------------


async def test_a_long_pipeline_completes_at_every_capacity(capacity: int) -> None:
    net = await run(
        """
        500 -> COUNT S(core/Range) OUT -> IN R(flow/Replicate)
        R OUT[0] -> IN F(flow/Filter) OUT -> IN[0] M(flow/Merge)
        R OUT[1] -> IN Sq(flow/Map) OUT -> IN[1] M
        'x % 3 == 0' -> EXPR F
        '-x' -> EXPR Sq
        M OUT -> IN B(flow/Batch) OUT -> IN U(flow/Unbatch) OUT -> IN C(core/Collect)
        7 -> SIZE B
        """,
        capacity,
    )
    got = collected(net)
    assert Counter(got) == Counter([*range(0, 500, 3), *(-x for x in range(500))])


async def test_zip_of_a_stream_with_itself_delayed_by_a_sort_deadlocks_at_capacity_1() -> None:
    # Sort holds the whole stream, so Zip waits on B while Replicate waits on A's
    # full edge: the crossed fan-out/fan-in of networks/deadlock.fbp in small.
    net = build_network(
        graph(
            """
            10 -> COUNT S(core/Range) OUT -> IN R(flow/Replicate)
            R OUT[0] -> A Z(flow/Zip)
            R OUT[1] -> IN Sorted(examples/Sort) OUT -> B Z
            Z OUT -> IN C(core/Drop)
            """
        ),
        capacity=1,
        deadlock_interval=0.02,
    )
    with pytest.raises(DeadlockError) as info:
        await net.run()
    assert any("R waits to send" in line for line in info.value.cycle)
