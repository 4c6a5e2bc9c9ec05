"""The recorder's writer on a real SQLite store: a refused write is held and retried, a bad row is dropped alone,
a damaged database is replaced by a fresh one that keeps the HMI's tables."""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from inspector.alarms.owner import AlarmOwner
from inspector.config.schema import RecorderConfig
from inspector.errors import StoreCorruptError, StoreError, StoreUnavailableError
from inspector.messages import Alarm
from inspector.recorder import writer as writer_module
from inspector.recorder.writer import RecordWriter
from inspector.records.station import StationDatabase
from inspector.records.store import Store, decision_row, store_error
from tests.unit.test_store import a_decision


class Recorder:
    """What the recorder gives its writer: an alarm owner (messages kept here) and counters."""

    def __init__(self, tmp_path: Path, held_rows: int = 100) -> None:
        self.sent: list = []
        self.fresh: list[Store] = []
        self.refused: list = []
        self.counters: Counter[str] = Counter()
        config = RecorderConfig(database=str(tmp_path / "inspector.db"), image_dir=str(tmp_path / "images"), held_rows=held_rows)
        self.writer = RecordWriter(config, AlarmOwner("station-1", "recorder", lambda m: self.sent.append(m) or True),
                                   self.counters, self.fresh.append, self.refused.append)
        self.writer.open()

    def alarms(self) -> list[tuple[str, bool]]:
        return [(m.code, m.active) for m in self.sent if isinstance(m, Alarm)]

    def part_ids(self) -> list[int]:
        return [r["part_id"] for r in self.writer.store.parts.rows_where("result IS NOT NULL", order_by="part_id")]


@pytest.fixture
def recorder(tmp_path, monkeypatch):
    monkeypatch.setattr(writer_module, "RETRY_S", 0.0)  # retried at each write, not after a second
    r = Recorder(tmp_path)
    yield r
    if r.writer.store is not None:
        r.writer.store.close()


def rows(*part_ids: int) -> list[dict]:
    return [decision_row(a_decision(p)) for p in part_ids]


def test_the_store_names_a_refused_write_and_a_damaged_file_apart(tmp_path):
    store = Store(tmp_path / "a.db", tmp_path / "images")
    store.db.execute("PRAGMA max_page_count = 1")  # SQLite's own size limit: 'database or disk is full'
    with pytest.raises(StoreUnavailableError, match="full"):
        store.record(rows(*range(1, 200)))
    store.close()
    (tmp_path / "b.db").write_bytes(b"this is no database" * 500)
    other = sqlite3.connect(tmp_path / "b.db")
    with pytest.raises(sqlite3.DatabaseError) as raw:
        other.execute("SELECT * FROM sqlite_master").fetchall()
    assert isinstance(store_error("reading", raw.value), StoreCorruptError)
    assert type(store_error("reading", sqlite3.OperationalError("no such column: x"))) is StoreError


def test_rows_the_disk_refuses_are_held_in_order_retried_and_all_written_once_there_is_room(recorder):
    recorder.writer.write(rows(1, 2), [])
    recorder.writer.store.db.execute("PRAGMA max_page_count = 2")
    recorder.writer.write(rows(*range(3, 60)), [])
    assert recorder.writer.held == 57 and recorder.alarms() == [("record_write_failed", True)]
    assert "held in memory" in recorder.sent[-1].text and "journal" in recorder.sent[-1].text
    recorder.writer.write(rows(60), [Alarm("station-1", "camera:top", "camera_lost", "critical", "gone", 1.0)])
    recorder.writer.retry(1e12)
    assert recorder.writer.held == 59 and len(recorder.alarms()) == 1, "raised once, not per retry"
    recorder.writer.store.db.execute("PRAGMA max_page_count = 1000000")
    recorder.writer.retry(1e12)
    assert recorder.writer.held == 0 and recorder.part_ids() == list(range(1, 61))
    assert [r["code"] for r in recorder.writer.store.db["alarms"].rows] == ["camera_lost"]
    assert recorder.alarms() == [("record_write_failed", True), ("record_write_failed", False)]


def test_when_as_many_rows_wait_as_allowed_the_writer_says_it_is_full(tmp_path, monkeypatch):
    monkeypatch.setattr(writer_module, "RETRY_S", 0.0)
    r = Recorder(tmp_path, held_rows=100)
    r.writer.store.db.execute("PRAGMA max_page_count = 2")
    r.writer.write(rows(*range(1, 100)), [])
    assert not r.writer.full
    r.writer.write(rows(100), [])
    assert r.writer.full
    r.writer.store.close()


def test_a_row_the_database_refuses_is_dropped_alone_and_the_others_are_written(recorder):
    bad = {**decision_row(a_decision(2)), "no_such_column": 1}
    recorder.writer.write([*rows(1), bad, *rows(3)], [])
    assert recorder.part_ids() == [1, 3] and recorder.counters["rows_unwritable"] == 1
    assert recorder.writer.held == 0 and recorder.alarms() == []


def corrupt_table(database: Path, table: str) -> None:
    """Overwrite the pages of ``table`` and its indexes with garbage, after a checkpoint (the file holds them)."""
    with sqlite3.connect(database) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        roots = [r[0] for r in conn.execute("SELECT rootpage FROM sqlite_master WHERE tbl_name = ? AND rootpage > 0", (table,))]
    with open(database, "r+b") as fh:
        for root in roots:
            fh.seek((root - 1) * page_size)
            fh.write(os.urandom(page_size))


def test_a_database_damaged_while_open_is_moved_aside_and_a_fresh_one_keeps_the_hmi_tables(recorder, tmp_path):
    recorder.writer.write(rows(*range(1, 30)), [])
    hmi = StationDatabase(tmp_path / "inspector.db")
    hmi.set_mark(hmi.part(("top", 3)), "false_reject", "operator")
    hmi.save_label(("top", 4), "defective", [], "quality")
    hmi.close()
    damaged = recorder.writer.store
    corrupt_table(tmp_path / "inspector.db", "parts")
    recorder.writer.write(rows(30), [])
    assert recorder.writer.store is not damaged and recorder.fresh == [recorder.writer.store]
    assert recorder.part_ids() == [30], "the rest comes back from the actuator's journal"
    (moved,) = [p for p in tmp_path.iterdir() if ".corrupt-" in p.name and not p.name.endswith(("-wal", "-shm"))]
    event = [m for m in recorder.sent if m.code == "database_corrupt"][0]
    assert event.kind == "event" and event.severity == "critical"
    assert str(moved) in event.text and "reject_marks 1" in event.text and "part_labels 1" in event.text
    hmi = StationDatabase(tmp_path / "inspector.db")
    try:
        assert hmi.marks([("top", 3)]) == {("top", 3): ("false_reject", "operator")}
        assert [p.part_id for p in hmi.labelled_parts()] == [], "no part 4 yet: it is refilled from the journal"
        recorder.writer.write(rows(4), [])
        assert [(p.part_id, p.label) for p in hmi.labelled_parts()] == [(4, "defective")]
    finally:
        hmi.close()


def test_the_hmi_follows_the_fresh_database_its_marks_go_there(recorder, tmp_path):
    recorder.writer.write(rows(*range(1, 30)), [])
    hmi = StationDatabase(tmp_path / "inspector.db")  # open all along, as the HMI beside the line
    try:
        hmi.set_mark(hmi.part(("top", 3)), "false_reject", "operator")
        corrupt_table(tmp_path / "inspector.db", "parts")
        recorder.writer.write(rows(30), [])
        assert recorder.counters["databases_replaced"] == 1
        assert hmi.marks([("top", 3)]) == {("top", 3): ("false_reject", "operator")}, "carried over, read in the fresh file"
        hmi.set_mark(hmi.part(("top", 30)), "true_defect", "operator")
    finally:
        hmi.close()
    with sqlite3.connect(tmp_path / "inspector.db") as fresh:
        assert fresh.execute("SELECT part_id, mark FROM reject_marks ORDER BY part_id").fetchall() == [(3, "false_reject"), (30, "true_defect")]


def test_a_database_damaged_again_at_once_is_held_not_replaced_in_a_loop(recorder, tmp_path):
    recorder.writer.write(rows(*range(1, 30)), [])
    corrupt_table(tmp_path / "inspector.db", "parts")
    recorder.writer.write(rows(30), [])
    recorder.writer.write(rows(*range(31, 60)), [])
    corrupt_table(tmp_path / "inspector.db", "parts")
    recorder.writer.write(rows(60), [])
    assert recorder.counters["databases_replaced"] == 1
    assert recorder.writer.held == 1 and ("record_write_failed", True) in recorder.alarms()


def test_a_second_decision_for_a_part_is_refused_to_the_recorder_and_the_first_kept(recorder):
    recorder.writer.write(rows(1, 2), [])
    second = dict(rows(2)[0], result="FAILSAFE_REJECT")
    recorder.writer.write([second, *rows(3)], [])
    assert recorder.part_ids() == [1, 2, 3]
    assert [r["part_id"] for refused in recorder.refused for r in refused.decisions] == [2]
    assert recorder.counters["decisions_refused"] == 1 and recorder.counters["rows_written"] == 3
