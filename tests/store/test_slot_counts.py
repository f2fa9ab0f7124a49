"""SQLite keeps each widget's slot count by triggers: the same answers as counting, at a cost that does not grow."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.store.test_budget import VmSteps
from widget_server.store import ConversationRecord
from widget_server.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio

T0 = 1_790_000_000.0


def _counts(store: SqliteStore) -> tuple[dict[str, int], dict[str, int]]:
    kept = {r[0]: r[1] for r in store.db.execute("SELECT widget, n FROM slot_counts WHERE n != 0")}
    real = {r[0]: r[1] for r in store.db.execute("SELECT widget, COUNT(*) FROM slots GROUP BY widget")}
    return kept, real


async def test_slot_counts_follow_the_slots_and_answer_as_counting(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "s.db"))
    await store.open()
    rng = random.Random(7)
    leases: dict[tuple[str, str], float] = {}  # the model: (widget, holder) -> lease_until
    now = T0
    for step in range(600):
        now += rng.choice([0, 1, 5, 30])
        widget, holder = rng.choice(["a", "b", "c"]), f"h{rng.randrange(12)}"
        action = rng.random()
        if action < 0.6:
            limit = rng.randrange(1, 5)
            lease = now + rng.choice([10, 60, 300])
            for key in [k for k, until in leases.items() if k[0] == widget and until <= now]:
                del leases[key]  # expired leases free their slots
            others = sum(1 for (w, h) in leases if w == widget and h != holder)
            expected = others < limit
            assert await store.acquire_slot(widget, limit, holder, lease, now) == expected, step
            if expected:
                leases[(widget, holder)] = lease
        elif action < 0.8:  # finishing a holder frees its slots, whether or not it has a record
            await store.finish(holder, "ended", "test", now)
            for key in [k for k in leases if k[1] == holder]:
                del leases[key]
        else:  # a conversation that holds a slot ends: its finish frees the slot
            held = f"rec{step}"
            for key in [k for k, until in leases.items() if k[0] == widget and until <= now]:
                del leases[key]
            assert await store.acquire_slot(widget, 1000, held, now + 60, now)
            record = ConversationRecord(local_id=held, widget=widget, status="active", created_at=now,
                                        expires_at=now + 60)
            await store.insert(record)
            assert _counts(store)[0].get(widget) == 1 + sum(1 for (w, _) in leases if w == widget)
            await store.finish(held, "ended", "test", now)
        kept, real = _counts(store)
        assert kept == real, step
        assert real == {w: n for w in "abc" if (n := sum(1 for (x, _) in leases if x == w))}, step
    await store.close()


async def test_an_old_database_gets_its_slot_counts(tmp_path: Path) -> None:
    path = str(tmp_path / "old.db")
    store = SqliteStore(path)
    await store.open()
    for i in range(5):
        assert await store.acquire_slot("w", 10, f"h{i}", T0 + 100, T0)
    # What a database from before the counts looks like: the slots, no table, no triggers.
    store.db.executescript("DROP TRIGGER slot_counts_insert; DROP TRIGGER slot_counts_delete; DROP TABLE slot_counts;")
    await store.close()
    store = SqliteStore(path)
    await store.open()
    assert _counts(store) == ({"w": 5}, {"w": 5})
    assert await store.acquire_slot("w", 6, "h5", T0 + 100, T0)
    assert not await store.acquire_slot("w", 6, "h6", T0 + 100, T0)
    await store.close()


async def test_taking_a_slot_costs_the_same_with_many_live(tmp_path: Path) -> None:
    steps = []
    for live in (10, 800):
        store = SqliteStore(str(tmp_path / f"l{live}.db"))
        await store.open()
        for i in range(live):
            assert await store.acquire_slot("w", 100_000, f"h{i}", T0 + 1000, T0)
        vm = VmSteps(store.db)
        steps.append(await vm(lambda s=store: s.acquire_slot("w", 100_000, "new", T0 + 1000, T0 + 1)))
        await store.close()
    assert steps[0] == steps[1], steps  # counting the 800 live slots would take hundreds more steps
