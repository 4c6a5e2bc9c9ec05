"""The actuator's journal: durable before the PLC write, and what a crash left open is closed at restart."""

from __future__ import annotations

import sqlite3

import msgspec
import pytest

from inspector.actuator.journal import DecisionJournal, journal_path, unrecorded_decisions
from inspector.messages import Decision, PartSeen


def seen(part_id: int, seq: int | None = None) -> PartSeen:
    return PartSeen("station-1", "top", part_id, seq or part_id, 100.0 + part_id)


def decided(part_id: int, seq: int, result: str = "PASS") -> Decision:
    return Decision("station-1", "top", part_id, seq, result, "verdict", 100.0 + part_id, 100.1 + part_id, False)


def outcomes(state_dir) -> dict[int, str]:
    with sqlite3.connect(journal_path(state_dir)) as db:
        return dict(db.execute("SELECT part_id, outcome FROM parts"))


@pytest.fixture
def journal(tmp_path):
    j = DecisionJournal(tmp_path, keep_hours=72)
    yield j
    j.close()


def test_a_part_goes_from_seen_to_writing_to_delivered_with_its_plc_sequence(journal, tmp_path):
    journal.seen(seen(1), 101.0)
    assert outcomes(tmp_path) == {1: "seen"}
    journal.writing(decided(1, 1))
    assert outcomes(tmp_path) == {1: "writing"}, "durable before the PLC write"
    journal.answered(msgspec.structs.replace(decided(1, 1), plc_delivered=True, t_plc_written=101.2, plc_seq=41))
    assert outcomes(tmp_path) == {1: "delivered"}
    (recorded,) = unrecorded_decisions(tmp_path, 0, float("inf"))
    assert (recorded.part_id, recorded.plc_seq, recorded.plc_delivered) == (1, 41, True)
    assert oct(journal_path(tmp_path).stat().st_mode & 0o777) == "0o600"


def test_a_clean_journal_leaves_nothing_open(journal):
    journal.seen(seen(1), 101.0)
    journal.writing(decided(1, 7))
    journal.answered(msgspec.structs.replace(decided(1, 7), plc_delivered=True))
    recovery = journal.recover("FAILSAFE_REJECT", "station-1", 200.0)
    assert recovery.decisions == [] and recovery.delivery_seq == 7 and recovery.seen_seq == {"top": 1}


def test_what_a_crash_left_open_is_decided_fail_safe_or_marked_unknown_and_numbered_after_the_last(tmp_path):
    crashed = DecisionJournal(tmp_path, keep_hours=72)
    for part_id in (1, 2, 3):
        crashed.seen(seen(part_id), 100.5 + part_id)
    crashed.writing(decided(1, 5))
    crashed.answered(msgspec.structs.replace(decided(1, 5), plc_delivered=True, plc_seq=9))
    crashed.writing(decided(2, 6, "REJECT"))  # killed during the PLC write of part 2; part 3 never decided
    crashed.db.close()  # as a kill -9 leaves it: no clean close

    journal = DecisionJournal(tmp_path, keep_hours=72)
    recovery = journal.recover("FAILSAFE_REJECT", "station-1", 300.0)
    (undecided,) = recovery.undecided
    (unknown,) = recovery.unknown
    assert (undecided.part_id, undecided.result, undecided.source, undecided.plc_delivered) == (3, "FAILSAFE_REJECT", "deadline", False)
    assert "not written to the PLC" in undecided.plc_error and undecided.t_decided == 300.0
    assert (unknown.part_id, unknown.result, unknown.plc_delivered) == (2, "REJECT", False)
    assert "unknown" in unknown.plc_error
    assert sorted(d.seq for d in recovery.decisions) == [7, 8] and recovery.delivery_seq == 8
    assert outcomes(tmp_path) == {1: "delivered", 2: "unknown", 3: "undelivered"}
    assert {d.part_id for d in unrecorded_decisions(tmp_path, 0, float("inf"))} == {1, 2, 3}
    assert journal.recover("FAILSAFE_REJECT", "station-1", 301.0).decisions == [], "closed once"
    journal.close()


def test_the_recorder_reads_only_final_decisions_in_its_window(journal, tmp_path):
    journal.seen(seen(1), 101.0)
    journal.writing(decided(2, 1))
    assert unrecorded_decisions(tmp_path, 0, float("inf")) == [], "seen and writing are not final"
    journal.answered(decided(2, 1))
    assert unrecorded_decisions(tmp_path, float("inf"), float("inf")) == []
    assert [d.part_id for d in unrecorded_decisions(tmp_path, 0, float("inf"))] == [2]


def test_no_journal_yet_means_nothing_to_reconcile(tmp_path):
    assert unrecorded_decisions(tmp_path / "nowhere", 0, float("inf")) == []
