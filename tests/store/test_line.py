"""The waiting line's store contract, on SQLite and a real Redis (the ``store`` fixture of test_contract)."""

from __future__ import annotations

import asyncio

import pytest

from tests.store.test_contract import T0, rec, store  # noqa: F401  (the fixture)
from widget_server.store import Store
from widget_server.store.base import LineEntry

pytestmark = pytest.mark.anyio
LEASE = T0 + 900


def entry(queue_id: str, now: float = T0, widget: str = "w", wait: float = 600) -> LineEntry:
    return LineEntry(queue_id=queue_id, widget=widget, joined_at=now, seen_until=now + 20, wait_until=now + wait,
                     payload='{"o": 1}')


async def fill(store: Store, n: int, limit: int = 1) -> None:  # noqa: F811
    for i in range(n):
        assert await store.line_enter(entry(f"q_fill{i}"), limit, f"l_fill{i}", LEASE, 20, T0) == 0


async def line_up(store: Store, *queue_ids: str) -> None:  # noqa: F811
    for queue_id in queue_ids:
        await store.line_enter(entry(queue_id), 1, "x", LEASE, 20, T0)


async def free_the_slot(store: Store, at: float) -> None:  # noqa: F811
    """The conversation ``fill(store, 1)`` holds the slot for ends at ``at``."""
    await store.insert(rec("l_fill0"))
    await store.finish("l_fill0", "ended", "done", at)


async def test_enter_takes_a_free_slot_then_lines_up_in_order(store: Store) -> None:  # noqa: F811
    assert await store.line_enter(entry("q0"), 1, "l0", LEASE, 3, T0) == 0
    assert await store.live_slots("w", T0) == 1
    assert [await store.line_enter(entry(f"q{i}"), 1, f"l{i}", LEASE, 3, T0) for i in (1, 2, 3)] == [1, 2, 3]
    assert await store.line_enter(entry("q4"), 1, "l4", LEASE, 3, T0) == -1  # max_length
    assert await store.line_length("w", T0) == 3
    place = await store.line_place("w", "q2", T0)
    assert (place.state, place.position, place.length) == ("waiting", 2, 3)
    assert place.entry is not None and place.entry.payload == '{"o": 1}'
    assert (await store.line_place("other", "q2", T0)).state == ""  # a ticket is for its own widget
    assert await store.live_slots("w", T0) == 1  # those in line hold no slot


async def test_a_newcomer_never_takes_a_slot_while_someone_waits(store: Store) -> None:  # noqa: F811
    await fill(store, 1)
    assert await store.line_enter(entry("q1"), 1, "l1", LEASE, 20, T0) == 1
    await free_the_slot(store, T0 + 1)  # the slot is free, the line not yet advanced
    assert not await store.acquire_slot("w", 1, "l_new", LEASE, T0 + 1)
    assert await store.line_enter(entry("q2", T0 + 1), 1, "l2", LEASE, 20, T0 + 1) == 2
    assert await store.line_advance("w", 1, T0 + 31, T0 + 1) == ["q1"]  # the head, and only the head
    assert await store.live_slots("w", T0 + 1) == 1  # held for q1
    place = await store.line_place("w", "q1", T0 + 1)
    assert (place.state, place.position) == ("offered", 0)
    assert (await store.line_place("w", "q2", T0 + 1)).position == 1
    assert await store.line_advance("w", 1, T0 + 31, T0 + 1) == []  # no free slot: nothing more


async def test_claim_serve_and_the_cap_holds(store: Store) -> None:  # noqa: F811
    await fill(store, 2, limit=2)
    for i in range(3):
        assert await store.line_enter(entry(f"q{i}"), 2, f"x{i}", LEASE, 20, T0) == i + 1
    await store.insert(rec("l_fill1"))
    await store.finish("l_fill1", "ended", "done", T0 + 1)
    assert await store.line_advance("w", 2, T0 + 31, T0 + 2) == ["q0"]
    assert not await store.line_claim("w", "q1", "l_q1", LEASE, T0 + 60, T0 + 3)  # not its turn
    assert await store.line_claim("w", "q0", "l_q0", LEASE, T0 + 60, T0 + 3)
    assert not await store.line_claim("w", "q0", "l_again", LEASE, T0 + 60, T0 + 3)  # once
    assert await store.live_slots("w", T0 + 3) == 2  # the conversation's now, never more than the cap
    assert (await store.line_place("w", "q0", T0 + 3)).state == "serving"
    assert await store.line_leave("w", "q0", "served", T0 + 4)
    assert not await store.line_leave("w", "q0", "served", T0 + 4)
    gone = await store.line_place("w", "q0", T0 + 4)
    assert (gone.state, gone.reason) == ("left", "served")
    assert gone.entry is not None and gone.entry.payload == ""  # the visitor's details go with the place
    assert (await store.line_place("w", "q1", T0 + 4)).position == 1
    assert [(d.queue_id, d.reason) for d in await store.line_departures(10)] == [("q0", "served")]
    assert await store.line_departures(10) == []  # handed out once


async def test_engine_refusal_puts_the_visitor_back_at_the_head(store: Store) -> None:  # noqa: F811
    await fill(store, 1)
    await line_up(store, "q0", "q1")
    await free_the_slot(store, T0 + 1)
    assert await store.line_advance("w", 1, T0 + 31, T0 + 1) == ["q0"]
    assert await store.line_claim("w", "q0", "l_q0", LEASE, T0 + 60, T0 + 2)
    await store.insert(rec("l_q0"))
    await store.finish("l_q0", "failed", "engine_concurrency", T0 + 3)  # the engine said its account is full
    assert await store.line_requeue("w", "q0", T0 + 30, T0 + 40, T0 + 3)
    assert (await store.line_place("w", "q0", T0 + 3)).position == 1  # the head, not the tail
    assert await store.line_advance("w", 1, T0 + 40, T0 + 10) == []  # held: the engine asked to wait
    assert not await store.acquire_slot("w", 1, "l_new", LEASE, T0 + 10)
    await store.line_touch("w", "q1", T0 + 60, T0 + 10)
    assert await store.line_advance("w", 1, T0 + 61, T0 + 31) == ["q0"]


async def test_time_runs_out_presence_turn_and_wait(store: Store) -> None:  # noqa: F811
    await fill(store, 1)
    await line_up(store, "q_gone", "q_turn")
    await store.line_enter(entry("q_wait", wait=100), 1, "x", LEASE, 20, T0)
    await store.line_enter(entry("q_stay", wait=1000), 1, "x", LEASE, 20, T0)
    for t in range(10, 100, 10):  # q_gone stops heartbeating; the others beat
        for q in ("q_turn", "q_wait", "q_stay"):
            place = await store.line_touch("w", q, T0 + t + 20, T0 + t)
    assert place.position == 3 and (await store.line_place("w", "q_gone", T0 + 90)).reason == "gone"
    await free_the_slot(store, T0 + 90)
    assert await store.line_advance("w", 1, T0 + 120, T0 + 90) == ["q_turn"]
    # q_turn never confirms: past its turn window the slot goes on; q_wait's ticket expired meanwhile
    for q in ("q_turn", "q_wait", "q_stay"):
        await store.line_touch("w", q, T0 + 125, T0 + 105)
    assert await store.line_advance("w", 1, T0 + 150, T0 + 121) == ["q_stay"]
    reasons = {d.queue_id: d.reason for d in await store.line_departures(10)}
    assert reasons == {"q_gone": "gone", "q_turn": "turn_missed", "q_wait": "expired"}
    assert await store.live_slots("w", T0 + 121) == 1  # only q_stay's
    assert await store.line_leave("w", "q_stay", "left", T0 + 122)
    assert await store.live_slots("w", T0 + 122) == 0  # leaving frees the slot held for it at once


async def test_a_lapsed_claim_gives_the_place_back(store: Store) -> None:  # noqa: F811
    """The instance running the head's create died: past the claim's lease the head is the head again."""
    await fill(store, 1)
    await line_up(store, "q0", "q1")
    await free_the_slot(store, T0 + 1)
    await store.line_advance("w", 1, T0 + 31, T0 + 1)
    assert await store.line_claim("w", "q0", "l_dead", T0 + 15, T0 + 10, T0 + 2)
    place = await store.line_touch("w", "q1", T0 + 40, T0 + 11)
    assert place.position == 2 and (await store.line_place("w", "q0", T0 + 11)).position == 1
    assert [p.queue_id for p in await store.line_departures(10)] == []
    assert await store.line_advance("w", 1, T0 + 50, T0 + 16) == ["q0"]  # once the dead create's slot lapsed


async def test_racing_enters_fill_the_slots_then_line_up_once_each(store: Store) -> None:  # noqa: F811
    results = await asyncio.gather(*(store.line_enter(entry(f"q{i}"), 3, f"l{i}", LEASE, 10, T0)
                                     for i in range(20)))
    assert sorted(results) == [-1] * 7 + [0] * 3 + list(range(1, 11))
    assert await store.live_slots("w", T0) == 3 and await store.line_length("w", T0) == 10


async def test_entries_read_the_line_in_order_without_payloads(store: Store) -> None:  # noqa: F811
    await fill(store, 1)
    for i, q in enumerate(("q_a", "q_b", "q_c")):
        await store.line_enter(entry(q, T0 + i), 1, "x", LEASE, 20, T0 + i)
    shown = await store.line_entries("w", T0 + 5)
    assert [(e.queue_id, e.widget, e.state, e.joined_at, e.seen_until, e.wait_until, e.payload) for e in shown] == [
        (q, "w", "waiting", T0 + i, T0 + i + 20, T0 + i + 600, "") for i, q in enumerate(("q_a", "q_b", "q_c"))]
    assert shown[0].seq < shown[1].seq < shown[2].seq
    await free_the_slot(store, T0 + 5)
    assert await store.line_advance("w", 1, T0 + 35, T0 + 5) == ["q_a"]
    assert await store.line_leave("w", "q_b", "left", T0 + 6)
    shown = await store.line_entries("w", T0 + 15)
    assert [(e.queue_id, e.state, e.turn_until) for e in shown] == [("q_a", "offered", T0 + 35),
                                                                    ("q_c", "waiting", 0.0)]
    assert [e.queue_id for e in await store.line_entries("w", T0 + 21)] == ["q_c"]  # q_a's presence ran out
    assert await store.line_entries("other", T0 + 21) == []
