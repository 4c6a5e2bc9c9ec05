"""The publisher's reading of the recorder's database: every decided part once, in order, whichever stream came first."""

from __future__ import annotations

import time

from inspector.messages import Decision, Verdict
from inspector.plant.outbox import Outbox
from inspector.plant.recorder_tail import PARTS, RecorderTail, follow_database
from inspector.records.store import Store, decision_row, verdict_columns


def decision(part_id: int) -> dict:
    now = time.time()
    verdict = Verdict("st", "top", part_id, part_id, "REJECT", now, now, "m1", [], {"inference": 20.0})
    return decision_row(Decision("st", "top", part_id, part_id, "REJECT", "verdict", now, now, True, now, "", verdict, now, part_id))


def image_first(part_id: int) -> dict:
    """The row a part's image makes when it reaches the recorder before the part's decision."""
    now = time.time()
    verdict = Verdict("st", "top", part_id, part_id, "REJECT", now, now, "m1", [], {})
    return {"camera": "top", "part_id": part_id, "image_path": f"/img/{part_id}.png", **verdict_columns(verdict)}


def read_all(tail: RecorderTail, outbox: Outbox, room: int = 1000, now: float | None = None) -> list[int]:
    batch = tail.read(outbox.position(PARTS), outbox.taken(PARTS), outbox.position("alarms"), room, now=now)
    outbox.put([("t", str(p["part_id"]).encode(), False) for p in batch.parts], batch.positions, batch.taken, batch.released)
    return [p["part_id"] for p in batch.parts]


def test_a_part_whose_image_came_first_is_published_once_when_decided_and_none_is_skipped(tmp_path):
    store = Store(tmp_path / "inspector.db", tmp_path / "images")
    outbox = Outbox(tmp_path / "outbox.db", 1000, 10_000_000)
    tail = RecorderTail(tmp_path / "inspector.db")
    store.record([decision(1)])
    store.record([image_first(2)])
    store.record([decision(3)])
    assert read_all(tail, outbox) == [1, 3]
    assert outbox.taken(PARTS) == {3}, "part 3 was read past a part still waiting for its decision"
    assert read_all(tail, outbox) == [], "nothing twice"
    store.record([decision(2), decision(4)])
    assert read_all(tail, outbox) == [2, 4]
    assert outbox.taken(PARTS) == set() and outbox.position(PARTS) == 4
    assert read_all(tail, outbox) == []


def test_a_new_reader_continues_where_the_outbox_says(tmp_path):
    store = Store(tmp_path / "inspector.db", tmp_path / "images")
    outbox = Outbox(tmp_path / "outbox.db", 1000, 10_000_000)
    store.record([decision(i) for i in range(1, 6)])
    assert read_all(RecorderTail(tmp_path / "inspector.db"), outbox, room=3) == [1, 2, 3]
    outbox.close()
    reopened = Outbox(tmp_path / "outbox.db", 1000, 10_000_000)  # the publisher restarted
    assert len(reopened) == 3
    assert read_all(RecorderTail(tmp_path / "inspector.db"), reopened) == [4, 5]


def test_a_full_outbox_holds_rows_back_in_the_database(tmp_path):
    store = Store(tmp_path / "inspector.db", tmp_path / "images")
    outbox = Outbox(tmp_path / "outbox.db", 10, 10_000_000)
    store.record([decision(i) for i in range(1, 16)])
    tail = RecorderTail(tmp_path / "inspector.db")
    batch = tail.read(0, set(), 0, outbox.room())
    assert [p["part_id"] for p in batch.parts] == list(range(1, 11)) and batch.held_back
    outbox.put([("t", b"x", False)] * 10, batch.positions)
    assert outbox.room() == 0
    assert tail.read(outbox.position(PARTS), set(), 0, outbox.room()).held_back
    outbox.acknowledged([m.id for m in outbox.after(0, 4)])
    assert outbox.room() == 4
    assert [p["part_id"] for p in tail.read(outbox.position(PARTS), set(), 0, outbox.room()).parts] == [11, 12, 13, 14]


def test_a_row_never_decided_is_passed_over_after_the_wait(tmp_path):
    store = Store(tmp_path / "inspector.db", tmp_path / "images")
    outbox = Outbox(tmp_path / "outbox.db", 1000, 10_000_000)
    tail = RecorderTail(tmp_path / "inspector.db")
    store.record([image_first(1)])
    store.record([decision(2)])
    assert read_all(tail, outbox, now=100.0) == [2]
    assert outbox.position(PARTS) == 0
    assert read_all(tail, outbox, now=100.0 + 601) == []
    assert outbox.position(PARTS) == 2 and outbox.taken(PARTS) == set()


def test_the_outbox_is_owner_only_and_counts_its_size(tmp_path):
    outbox = Outbox(tmp_path / "outbox.db", 1000, 50)
    assert (tmp_path / "outbox.db").stat().st_mode & 0o777 == 0o600
    outbox.put([("a", b"x" * 30, False), ("b", b"y" * 30, True)])
    assert len(outbox) == 2 and outbox.size_bytes == 60 and outbox.room() == 0, "full by size"
    first, second = outbox.after(0, 10)
    assert (first.topic, second.retain) == ("a", True)
    outbox.acknowledged([first.id])
    assert len(outbox) == 1 and outbox.size_bytes == 30 and outbox.room() > 0


def test_a_database_the_recorder_started_anew_is_read_from_its_first_row(tmp_path):
    from inspector.records.store import quarantine

    database = tmp_path / "inspector.db"
    store = Store(database, tmp_path / "images")
    outbox = Outbox(tmp_path / "outbox.db", 1000, 10_000_000)
    tail = RecorderTail(database)
    store.record([decision(i) for i in range(1, 6)])
    assert follow_database(tail, outbox) is False, "the first database seen is no replacement"
    assert read_all(tail, outbox) == [1, 2, 3, 4, 5]
    assert follow_database(tail, outbox) is False
    first = tail.identity()
    store.close()
    quarantine(database)  # what the recorder does with a corrupt database
    store = Store(database, tmp_path / "images")
    store.record([decision(i) for i in range(6, 9)])
    assert tail.identity() not in (0, first)
    assert follow_database(tail, outbox) is True
    assert read_all(tail, outbox) == [6, 7, 8]
