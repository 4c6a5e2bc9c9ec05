"""A camera's trigger journal, and the rule that decides, once, every journaled part the actuator never heard of.

Real SQLite files: the camera's journal as the camera service writes it, the actuator's journal as the actuator does.
"""

from __future__ import annotations

import logging
import stat
import time

import msgspec
import pytest

from inspector.actuator.journal import DecisionJournal, TriggerMark
from inspector.actuator.reject_gate import RejectGate
from inspector.actuator.seen_recovery import MARGIN_S, TriggerReconciler
from inspector.actuator.tracker import PartTracker
from inspector.errors import StoreError
from inspector.messages import PartSeen
from inspector.records.trigger_journal import TriggerJournal, read_triggers, trigger_journal_path, triggers_of

GATE = RejectGate(budget_s=0.25, window_s=1.0)
PAST_GATE = GATE.closes_at(0.0) + MARGIN_S  # a trigger this old, and not heard of, was lost


@pytest.fixture
def camera_journal(tmp_path):
    journal = TriggerJournal(tmp_path, "top", keep_hours=1)
    yield journal
    journal.close()


@pytest.fixture
def actuator_journal(tmp_path):
    journal = DecisionJournal(tmp_path, keep_hours=72)
    yield journal
    journal.close()


def reconciler(tmp_path, marks=None) -> TriggerReconciler:
    return TriggerReconciler("station-1", ["top"], str(tmp_path), GATE, "FAILSAFE_REJECT", marks or {})


def test_each_trigger_is_on_disk_in_order_owner_only_and_read_from_where_the_reader_left_off(camera_journal, tmp_path):
    now = time.time()
    for part_id in (11, 12, 13):
        camera_journal.record(part_id, part_id - 10, now + part_id)
    batch = read_triggers(tmp_path, "top", 0, 10)
    assert [(t.part_id, t.seq, t.t_trigger) for t in batch.triggers] == [(11, 1, now + 11), (12, 2, now + 12), (13, 3, now + 13)]
    after = read_triggers(tmp_path, "top", batch.triggers[0].entry, 10)
    assert [t.part_id for t in after.triggers] == [12, 13] and after.journal_id == batch.journal_id
    assert stat.S_IMODE(trigger_journal_path(tmp_path, "top").stat().st_mode) == 0o600
    assert set(triggers_of(tmp_path, "top", 12, 20)) == {12, 13}


def test_triggers_older_than_the_keep_window_are_pruned(tmp_path):
    journal = TriggerJournal(tmp_path, "top", keep_hours=1)
    try:
        journal.record(1, 1, time.time() - 2 * 3600)
        journal.record(2, 2, time.time() - 1800)
        journal._next_prune = 0.0  # the prune is due (it runs every few seconds)
        journal.record(3, 3, time.time())
    finally:
        journal.close()
    assert [t.part_id for t in read_triggers(tmp_path, "top", 0, 10).triggers] == [2, 3]


def test_a_missing_journal_reads_as_none_a_damaged_one_is_a_store_error_and_a_new_one_has_a_new_identity(tmp_path):
    assert read_triggers(tmp_path, "top", 0, 10) is None and triggers_of(tmp_path, "top", 1, 5) is None
    first = TriggerJournal(tmp_path, "top", keep_hours=1)
    first.close()
    identity = read_triggers(tmp_path, "top", 0, 10).journal_id
    trigger_journal_path(tmp_path, "top").unlink()
    second = TriggerJournal(tmp_path, "top", keep_hours=1)
    second.close()
    assert read_triggers(tmp_path, "top", 0, 10).journal_id != identity
    trigger_journal_path(tmp_path, "top").write_bytes(b"not a database, " * 512)
    with pytest.raises(StoreError, match="cannot read the trigger journal"):
        read_triggers(tmp_path, "top", 0, 10)


def test_a_journal_that_cannot_be_made_is_a_store_error(tmp_path):
    (tmp_path / "state").write_text("a file where the state folder should be")
    with pytest.raises(StoreError, match="cannot open camera top's trigger journal"):
        TriggerJournal(tmp_path / "state", "top", keep_hours=1)


def known_by(tracker: PartTracker, journal: DecisionJournal):
    return lambda camera, ids: tracker.knows(camera, ids) | journal.holds(camera, ids)


def test_a_trigger_past_its_gate_that_the_actuator_never_heard_of_is_decided_fail_safe_once_with_its_trigger_time(
        camera_journal, actuator_journal, tmp_path):
    now = time.time()
    old = now - PAST_GATE - 5
    for part_id in range(1, 7):
        camera_journal.record(part_id, part_id, old + part_id * 0.1)
    camera_journal.record(7, 7, now - 0.2)  # not yet past its gate: its part-seen event may be on its way
    actuator_journal.seen(PartSeen("station-1", "top", 1, 1, old + 0.1), now)  # journaled by an earlier run
    tracker = PartTracker("station-1", 0.25, "reject")
    tracker.on_part_seen(PartSeen("station-1", "top", 2, 2, old + 0.2), now)  # seen in this run: decided by the tracker
    tracker.decided_elsewhere("top", 3, old + 0.3)  # decided from a sequence gap, not journaled yet
    rule = reconciler(tmp_path)

    done = rule.run(now, known_by(tracker, actuator_journal))

    decided = {p.decision.part_id: p for p in done.decided}
    assert sorted(decided) == [4, 5, 6], "the parts nobody decided, and only those past their gate"
    for part_id, part in decided.items():
        d = part.decision
        assert (d.result, d.source, d.plc_delivered, d.t_trigger, part.seen_seq) == (
            "FAILSAFE_REJECT", "seen_lost", False, old + part_id * 0.1, part_id)
        assert "not written to the PLC" in d.plc_error and "trigger journal" in d.plc_error
    assert done.marks["top"].entry == 6, "read up to the last trigger past its gate"
    assert rule.run(now, known_by(tracker, actuator_journal)).decided == [], "a trigger is judged once"
    later = rule.run(now + 10, known_by(tracker, actuator_journal))
    assert [p.decision.part_id for p in later.decided] == [7], "the young one, once past its gate"


def test_where_the_reading_stopped_survives_a_restart_of_the_actuator(camera_journal, tmp_path):
    old = time.time() - PAST_GATE - 5
    for part_id in (1, 2):
        camera_journal.record(part_id, part_id, old)
    journal = DecisionJournal(tmp_path, keep_hours=72)
    tracker = PartTracker("station-1", 0.25, "reject")
    done = reconciler(tmp_path).run(time.time(), known_by(tracker, journal))
    for part in done.decided:  # the delivery journals the decisions, then the mark
        journal.unwritten(msgspec.structs.replace(part.decision, seq=part.decision.part_id), part.seen_seq)
    journal.reconciled("top", done.marks["top"])
    journal.close()

    restarted = DecisionJournal(tmp_path, keep_hours=72)
    try:
        recovery = restarted.recover("FAILSAFE_REJECT", "station-1", time.time())
        assert recovery.trigger_marks == {"top": done.marks["top"]} and recovery.decisions == []
        camera_journal.record(3, 3, old)
        again = reconciler(tmp_path, recovery.trigger_marks).run(time.time(), known_by(tracker, restarted))
        assert [p.decision.part_id for p in again.decided] == [3]
        fresh = reconciler(tmp_path).run(time.time(), known_by(PartTracker("station-1", 0.25, "reject"), restarted))
        assert [p.decision.part_id for p in fresh.decided] == [3], "without its mark: the journal still knows 1 and 2"
    finally:
        restarted.close()


def test_a_journal_made_anew_is_read_from_its_start(tmp_path, actuator_journal):
    journal = TriggerJournal(tmp_path, "top", keep_hours=1)
    journal.record(5, 1, time.time() - PAST_GATE - 5)
    journal.close()
    mark = TriggerMark(journal_id=12345, entry=100)  # an earlier file's: its entries mean nothing here
    done = reconciler(tmp_path, {"top": mark}).run(time.time(), known_by(PartTracker("s", 0.25, "reject"), actuator_journal))
    assert [p.decision.part_id for p in done.decided] == [5]


def test_a_missing_or_damaged_camera_journal_is_logged_and_decides_nothing(tmp_path, actuator_journal, caplog):
    rule = reconciler(tmp_path)
    known = known_by(PartTracker("station-1", 0.25, "reject"), actuator_journal)
    with caplog.at_level(logging.WARNING, logger="inspector.actuator.seen_recovery"):
        assert rule.run(time.time(), known).decided == []
        assert rule.run(time.time(), known).decided == []
        trigger_journal_path(tmp_path, "top").write_bytes(b"\0garbage" * 1000)
        assert rule.run(time.time(), known).decided == []
    said = [r.getMessage() for r in caplog.records]
    assert sum("has no trigger journal" in s for s in said) == 1, "a missing journal is said once"
    assert any("triggers cannot be reconciled" in s and "cannot read the trigger journal" in s for s in said)


def test_a_late_part_seen_event_of_a_part_decided_without_it_decides_nothing():
    tracker = PartTracker("station-1", 0.25, "reject")
    tracker.decided_elsewhere("top", 9, 500.0)
    late = PartSeen("station-1", "top", 9, 9, 500.0)
    assert not tracker.reused(late), "the same part, not another one under its id"
    assert tracker.on_part_seen(late, 505.0) is None and tracker.pending == 0
    assert tracker.counters["part_seen_after_recovery"] == 1
    assert tracker.knows("top", [8, 9]) == {9}




def test_triggers_long_before_the_actuators_journal_was_made_are_not_decided_again(camera_journal, tmp_path):
    """A journal deleted by hand holds no decision: the camera's whole keep window must not be decided a second time."""
    now = time.time()
    camera_journal.record(1, 1, now - 3600)  # an hour before: decided in a journal that is gone
    camera_journal.record(2, 2, now - 30)  # just before the journal was made (a camera started first): judged
    journal = DecisionJournal(tmp_path, keep_hours=72)
    try:
        created = journal.recover("FAILSAFE_REJECT", "station-1", now).created
        assert abs(created - now) < 5
        rule = TriggerReconciler("station-1", ["top"], str(tmp_path), GATE, "FAILSAFE_REJECT", {}, created)
        done = rule.run(now, known_by(PartTracker("station-1", 0.25, "reject"), journal))
    finally:
        journal.close()
    assert [p.decision.part_id for p in done.decided] == [2]
    assert done.marks["top"].entry == 2


def test_a_journal_the_camera_is_making_reads_as_not_there_yet(tmp_path):
    import sqlite3

    sqlite3.connect(trigger_journal_path(tmp_path, "top")).close()  # the file exists, its tables not yet
    assert read_triggers(tmp_path, "top", 0, 10) is None
