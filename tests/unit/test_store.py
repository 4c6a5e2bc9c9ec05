"""Recorder store (SQLite in WAL mode, one row per part, PNG images) and part-id allocation."""

from __future__ import annotations

import sqlite3

import cv2
import msgspec
import numpy as np
import pytest

from inspector.errors import InspectorError, StoreError
from inspector.messages import TRIGGER_TIME_UNKNOWN, Alarm, Decision, Verdict
from inspector.part_ids import MAX_PART_ID, PartIdAllocator
from inspector.records.store import Store, decision_row, inspection_row
from tests.unit.factories import a_verdict

T = a_verdict().t_trigger  # the parts' trigger time: a decision and its part's inspection record share it


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "db" / "parts.db", tmp_path / "images")
    yield s
    s.close()


def a_decision(part_id: int, verdict: Verdict | None = None, t_trigger: float = T) -> Decision:
    """A decision from ``verdict``, or a deadline fail-safe without one."""
    result, source = (verdict.result, "verdict") if verdict else ("FAILSAFE_REJECT", "deadline")
    return Decision(
        "station-1", "top", part_id, part_id, result, source, t_trigger=t_trigger, t_decided=t_trigger + 0.05,
        plc_delivered=True, t_plc_written=t_trigger + 0.06, verdict=verdict, t_plc_sent=t_trigger + 0.052,
    )


def rows_of(store: Store) -> list[dict]:
    return list(store.parts.rows_where(order_by="part_id"))


# -- the database ------------------------------------------------------------------------


def test_store_creates_the_parts_table_in_wal_mode(store, tmp_path):
    with sqlite3.connect(tmp_path / "db" / "parts.db") as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert "parts" in store.db.table_names()
    assert store.parts.pks == ["camera", "part_id"]
    assert {"result", "image_path", "latency_ms", "detections"} <= set(store.parts.columns_dict)


def test_reopening_an_existing_store_keeps_its_rows(tmp_path):
    first = Store(tmp_path / "parts.db", tmp_path / "images")
    first.record([decision_row(a_decision(1))])
    first.close()
    again = Store(tmp_path / "parts.db", tmp_path / "images")
    assert [r["part_id"] for r in rows_of(again)] == [1]
    again.close()


def test_a_store_from_before_a_column_existed_gets_it_and_keeps_its_rows(tmp_path):
    with sqlite3.connect(tmp_path / "parts.db") as old:
        old.execute("CREATE TABLE parts (camera TEXT, part_id INTEGER, result TEXT, PRIMARY KEY (camera, part_id))")
        old.execute("INSERT INTO parts VALUES ('top', 1, 'PASS')")
    store = Store(tmp_path / "parts.db", tmp_path / "images")
    try:
        assert {"t_plc_sent", "latency_ms", "detections"} <= set(store.parts.columns_dict)
        store.record([decision_row(a_decision(2, t_trigger=100.0))])
        assert [(r["part_id"], r["result"], r["t_plc_sent"]) for r in rows_of(store)] == [(1, "PASS", None), (2, "FAILSAFE_REJECT", 100.052)]
    finally:
        store.close()


def test_decision_row_holds_the_result_timing_and_verdict(store):
    verdict = a_verdict(part_id=1)
    store.record([decision_row(a_decision(1, verdict=verdict))])
    (row,) = rows_of(store)
    assert (row["result"], row["source"], row["verdict_result"]) == ("REJECT", "verdict", "REJECT")
    assert row["latency_ms"] == pytest.approx(60.0)
    assert row["plc_delivered"] == 1
    assert row["model_version"] == verdict.model_version


@pytest.mark.parametrize("decision_first", [True, False], ids=["decision_first", "inspection_first"])
def test_decision_and_inspection_of_a_part_merge_into_one_row(store, decision_first):
    verdict = a_verdict(part_id=7)
    writes = [[decision_row(a_decision(7, verdict=verdict))], [inspection_row(verdict, "/img/7.png")]]
    for rows in writes if decision_first else writes[::-1]:
        store.record(rows)

    (row,) = rows_of(store)
    assert row["result"] == "REJECT"
    assert row["image_path"] == "/img/7.png"
    assert row["t_trigger"] == T


def test_decision_and_inspection_in_one_batch_merge_into_one_row(store):
    # the recorder drains both streams and writes them in one record() call
    verdict = a_verdict(part_id=7)
    store.record([decision_row(a_decision(7, verdict=verdict)), inspection_row(verdict, "/img/7.png")])
    (row,) = rows_of(store)
    assert row["result"] == "REJECT"
    assert row["image_path"] == "/img/7.png"


def test_a_batch_with_other_parts_does_not_erase_a_stored_image_path(store):
    # part 1's image arrived first; its decision later shares a batch with part 2's image
    store.record([inspection_row(a_verdict(part_id=1), "/img/1.png")])
    store.record([decision_row(a_decision(1)), inspection_row(a_verdict(part_id=2), "/img/2.png")])
    by_id = {r["part_id"]: r for r in rows_of(store)}
    assert by_id[1]["result"] == "FAILSAFE_REJECT"
    assert by_id[2]["image_path"] == "/img/2.png"
    assert by_id[1]["image_path"] == "/img/1.png"


def test_recording_nothing_writes_nothing(store):
    store.record([])
    assert rows_of(store) == []
    assert store.db["alarms"].count == 0


def test_alarms_are_appended_alongside_part_rows(store):
    raised = Alarm("station-1", "actuator", "failsafe", "warning", "3 fail-safe decisions", 100.0, part_id=7)
    cleared = Alarm("station-1", "actuator", "failsafe", "warning", "cleared", 105.0, active=False)
    store.record([decision_row(a_decision(7))], [raised])
    store.record([], [cleared])
    alarms = list(store.db["alarms"].rows_where(order_by="t"))
    assert [(a["code"], a["active"], a["part_id"]) for a in alarms] == [("failsafe", 1, 7), ("failsafe", 0, None)]
    assert len(rows_of(store)) == 1


# -- images ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pixels",
    [
        np.random.default_rng(0).integers(0, 256, (120, 160), dtype=np.uint8),
        np.random.default_rng(1).integers(0, 256, (120, 160, 3), dtype=np.uint8),
        np.random.default_rng(2).integers(0, 65536, (60, 80), dtype=np.uint16),
    ],
    ids=["mono8", "bgr8", "mono16"],
)
def test_saved_image_is_a_png_equal_to_the_input(store, tmp_path, pixels):
    verdict = a_verdict(part_id=12, result="REJECT")
    path = store.save_image(verdict, pixels)
    assert path.endswith(".png")
    assert path.startswith(str(tmp_path / "images"))
    read = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    assert read is not None and read.dtype == pixels.dtype
    assert np.array_equal(read, pixels)


def test_images_of_different_parts_do_not_overwrite_each_other(store):
    a = store.save_image(a_verdict(part_id=1), np.zeros((10, 10), np.uint8))
    b = store.save_image(a_verdict(part_id=2), np.full((10, 10), 9, np.uint8))
    assert a != b
    assert cv2.imread(a, cv2.IMREAD_UNCHANGED).max() == 0


def test_an_existing_image_file_is_never_replaced(store):
    first = store.save_image(a_verdict(part_id=4), np.zeros((10, 10), np.uint8))
    before = open(first, "rb").read()
    second = store.save_image(a_verdict(part_id=4), np.full((10, 10), 9, np.uint8))
    third = store.save_image(a_verdict(part_id=4), np.full((10, 10), 7, np.uint8))
    assert (first.endswith("0000000004.png"), second.endswith("0000000004-1.png"), third.endswith("0000000004-2.png")) == (True,) * 3
    assert open(first, "rb").read() == before
    assert cv2.imread(second, cv2.IMREAD_UNCHANGED).max() == 9


# -- part ids ------------------------------------------------------------------------------


def test_part_ids_increase(tmp_path):
    ids = PartIdAllocator(tmp_path / "state" / "part_id")
    handed_out = [ids.next() for _ in range(2500)]
    assert handed_out == sorted(set(handed_out))
    assert handed_out[0] >= 1


@pytest.mark.parametrize("count", [1, 999, 1000, 1001, 2500])
def test_restarted_allocator_continues_above_every_id_handed_out(tmp_path, count):
    state = tmp_path / "state" / "part_id"
    before = PartIdAllocator(state)
    handed_out = [before.next() for _ in range(count)]
    # the process dies here, without any shutdown hook
    after = PartIdAllocator(state)
    assert after.next() > max(handed_out)


def test_part_ids_run_past_the_dint_without_wrapping_and_an_old_state_file_continues(tmp_path):
    state = tmp_path / "part_id"
    state.write_text(f"{2**31 - 5}\n")  # as the 32-bit allocator left it, near its wrap
    ids = PartIdAllocator(state)
    assert [ids.next() for _ in range(10)] == list(range(2**31 - 5, 2**31 + 5))
    assert MAX_PART_ID == 2**63 - 1


def test_part_ids_end_at_the_largest_sqlite_integer_and_never_wrap(tmp_path):
    state = tmp_path / "part_id"
    state.write_text(f"{MAX_PART_ID - 2}\n")
    ids = PartIdAllocator(state)
    assert [ids.next() for _ in range(3)] == [MAX_PART_ID - 2, MAX_PART_ID - 1, MAX_PART_ID]
    with pytest.raises(InspectorError, match="part ids are used up"):
        ids.next()
    with pytest.raises(InspectorError, match="part ids are used up"):
        PartIdAllocator(state).next()  # a restart does not start again at 1


@pytest.mark.parametrize("content", ["garbage", "-5", "12.5", ""])
def test_corrupt_state_file_is_an_inspector_error_naming_the_file(tmp_path, content):
    state = tmp_path / "part_id"
    state.write_text(content)
    with pytest.raises(InspectorError, match="corrupt") as info:
        PartIdAllocator(state)
    assert str(state) in str(info.value)


def test_a_second_decision_for_a_decided_part_is_refused_not_written_over_the_first(store):
    verdict = a_verdict(part_id=3)
    assert len(store.record([decision_row(a_decision(3, verdict=verdict))])) == 0
    forged = msgspec.structs.replace(a_decision(3), result="PASS", source="verdict")
    refused = store.record([decision_row(forged)])
    assert [r["part_id"] for r in refused.decisions] == [3] and refused.inspections == []
    assert len(store.record([inspection_row(verdict, "/img/3.png")])) == 0  # its inspection record still joins the row
    (row,) = rows_of(store)
    assert (row["result"], row["image_path"]) == ("REJECT", "/img/3.png")
    assert store.decided([("top", 3), ("top", 4)]) == {("top", 3)}


def test_a_second_inspection_record_for_a_part_is_refused_and_the_first_kept(store):
    first = a_verdict(part_id=5)
    store.record([decision_row(a_decision(5, verdict=first)), inspection_row(first, "/img/5.png")])
    second = a_verdict(part_id=5, result="PASS", model_version="m-other", detections=[], reason="forged")
    refused = store.record([inspection_row(second, "/img/5-1.png")])
    assert [r["image_path"] for r in refused.inspections] == ["/img/5-1.png"] and refused.decisions == []
    assert len(store.record([inspection_row(second)])) == 1, "without an image too"
    (row,) = rows_of(store)
    assert (row["verdict_result"], row["model_version"], row["image_path"]) == ("REJECT", "m-2024.1", "/img/5.png")
    assert row["detections"] == decision_row(a_decision(5, verdict=first))["detections"]


@pytest.mark.parametrize("kind", ["decision", "inspection"])
def test_a_row_of_another_part_under_the_same_id_is_refused_and_the_old_row_kept(store, kind):
    """An old part decided, never inspected (a pass not sampled); a later part arrives under its id."""
    store.record([decision_row(a_decision(9, t_trigger=T))])
    newer = a_verdict(part_id=9, t_trigger=T + 86_400 * 50, result="PASS")
    row = decision_row(a_decision(9, verdict=newer, t_trigger=newer.t_trigger)) if kind == "decision" else inspection_row(newer, "/img/9.png")
    refused = store.record([row])
    assert len(refused) == 1
    (kept,) = rows_of(store)
    assert (kept["result"], kept["t_trigger"], kept["verdict_result"], kept["image_path"]) == ("FAILSAFE_REJECT", T, None, None)


def a_decision_of_a_lost_part_seen_event(part_id: int, next_trigger: float) -> Decision:
    """What the actuator decides for a part whose part-seen event was lost: fail-safe, the next part's trigger time."""
    return msgspec.structs.replace(a_decision(part_id, t_trigger=next_trigger), source=TRIGGER_TIME_UNKNOWN, plc_delivered=False,
                               t_plc_written=None, t_plc_sent=None)


def test_a_lost_part_seen_events_decision_joins_its_inspected_part_and_keeps_the_detectors_trigger_time(store):
    """Seen in the soak: the detector recorded the part, the actuator lost its part-seen event with a kill; the
    decision recovered from the gap carried the next part's trigger time and was refused as another part's."""
    verdict = a_verdict(part_id=11)
    store.record([inspection_row(verdict, "/img/11.png")])
    refused = store.record([decision_row(a_decision_of_a_lost_part_seen_event(11, next_trigger=verdict.t_trigger + 0.075))])
    assert len(refused) == 0
    (row,) = rows_of(store)
    assert (row["result"], row["source"], row["t_trigger"], row["image_path"]) == ("FAILSAFE_REJECT", "seen_lost", verdict.t_trigger, "/img/11.png")
    assert store.decided([("top", 11)]) == {("top", 11)}


def test_an_inspection_record_after_a_lost_part_seen_events_decision_gives_the_part_its_trigger_time(store):
    verdict = a_verdict(part_id=12)
    store.record([decision_row(a_decision_of_a_lost_part_seen_event(12, next_trigger=verdict.t_trigger + 0.075))])
    assert len(store.record([inspection_row(verdict, "/img/12.png")])) == 0
    (row,) = rows_of(store)
    assert (row["result"], row["t_trigger"], row["image_path"]) == ("FAILSAFE_REJECT", verdict.t_trigger, "/img/12.png")


def test_a_lost_part_seen_events_decision_for_a_decided_part_is_refused(store):
    store.record([decision_row(a_decision(13, verdict=a_verdict(part_id=13)))])
    refused = store.record([decision_row(a_decision_of_a_lost_part_seen_event(13, next_trigger=T + 5))])
    assert [r["part_id"] for r in refused.decisions] == [13]
    (row,) = rows_of(store)
    assert (row["result"], row["source"], row["t_trigger"]) == ("REJECT", "verdict", T)


def test_a_corrupt_database_is_moved_aside_and_a_new_one_started(tmp_path):
    database = tmp_path / "parts.db"
    database.write_bytes(b"this is not a database" * 100)
    store = Store(database, tmp_path / "images")
    try:
        assert store.quarantined is not None and store.quarantined.read_bytes().startswith(b"this is not a database")
        store.record([decision_row(a_decision(1))])
        assert [r["part_id"] for r in rows_of(store)] == [1]
    finally:
        store.close()


def test_an_image_that_cannot_be_written_is_a_store_error_naming_it(store, tmp_path):
    (tmp_path / "images" / "top").write_text("a file where the camera's image folder should be")
    with pytest.raises(StoreError, match=r"cannot write image .*top/reject/0000000001\.png"):
        store.save_image(a_verdict(part_id=1), np.zeros((32, 32), np.uint8))


def test_a_second_database_moved_aside_within_the_same_second_does_not_replace_the_first(tmp_path):
    from inspector.records.store import quarantine

    database = tmp_path / "parts.db"
    database.write_bytes(b"first damaged file")
    first = quarantine(database)
    database.write_bytes(b"second damaged file")
    second = quarantine(database)
    assert first != second and first.read_bytes() == b"first damaged file" and second.read_bytes() == b"second damaged file"


def test_a_store_from_before_image_notes_gets_their_columns_and_the_index_retention_reads(tmp_path):
    with sqlite3.connect(tmp_path / "parts.db") as old:
        old.execute("CREATE TABLE parts (camera TEXT, part_id INTEGER, result TEXT, image_path TEXT, verdict_result TEXT, "
                    "t_verdict REAL, PRIMARY KEY (camera, part_id))")
    store = Store(tmp_path / "parts.db", tmp_path / "images")
    try:
        assert {"image_bytes", "image_note"} <= set(store.parts.columns_dict)
        assert "parts_stored_images" in {i.name for i in store.parts.indexes}
    finally:
        store.close()
