"""The reject gate's rule: past its deadline and gate window a part's decision is recorded fail-safe, never written."""

from __future__ import annotations

import sqlite3

from inspector.actuator.journal import DecisionJournal, journal_path
from inspector.actuator.reject_gate import NOT_WRITTEN, RejectGate, not_written
from inspector.messages import Decision, PartSeen
from tests.unit.factories import a_verdict

T0 = 1000.0
GATE = RejectGate(budget_s=0.25, window_s=1.0)


def test_a_part_is_past_the_gate_only_after_its_deadline_and_the_gate_window():
    assert not GATE.passed(T0, T0 + 0.25), "at the deadline the PLC can still act"
    assert not GATE.passed(T0, T0 + 1.25), "nor at the end of the window"
    assert GATE.passed(T0, T0 + 1.2501)
    assert GATE.passed(T0, T0 + 30.9), "what the port squatter's outage left queued"


def test_the_reason_says_how_late_and_that_nothing_was_written():
    decision = Decision("station-1", "top", 7, 0, "FAILSAFE_REJECT", "deadline", T0, T0 + 8.4, False)
    why = GATE.why(decision, T0 + 8.4)
    assert why.startswith("reached the PLC writer 8.4s after its trigger")
    assert "250 + 1000 ms" in why and why.endswith(NOT_WRITTEN)


def test_a_verdict_past_the_gate_is_recorded_fail_safe_and_keeps_the_detectors_verdict():
    verdict = a_verdict(part_id=7, result="PASS", t_trigger=T0)
    decision = Decision("station-1", "top", 7, 0, "PASS", "verdict", T0, T0 + 0.1, False, verdict=verdict)
    recorded = not_written(decision, "FAILSAFE_REJECT", "late")
    assert (recorded.result, recorded.source, recorded.plc_delivered, recorded.plc_error) == (
        "FAILSAFE_REJECT", "deadline", False, "late")
    assert recorded.verdict == verdict and recorded.plc_seq is None and recorded.t_plc_written is None


def test_a_part_past_the_gate_keeps_its_part_seen_number_in_the_journal(tmp_path):
    journal = DecisionJournal(tmp_path, keep_hours=72)
    try:
        journal.seen(PartSeen("station-1", "top", 7, 41, T0), T0 + 9)
        decision = Decision("station-1", "top", 7, 3, "FAILSAFE_REJECT", "deadline", T0, T0 + 9, False)
        journal.unwritten(not_written(decision, "FAILSAFE_REJECT", "late"))
    finally:
        journal.close()
    with sqlite3.connect(journal_path(tmp_path)) as db:
        assert db.execute("SELECT seen_seq, outcome FROM parts").fetchall() == [(41, "undelivered")]


def test_parts_past_the_gate_are_reported_the_first_at_once_then_together_and_the_rest_at_the_end():
    from inspector.actuator.delivery_reports import PastGateReports

    reports = PastGateReports(GATE, period_s=10.0)
    assert reports.due(0.0) == ("", None), "nothing came"
    for part_id in (4, 5, 6):
        reports.observe(Decision("station-1", "top", part_id, 0, "FAILSAFE_REJECT", "deadline", T0, T0, False), 8.0 + part_id)
        if part_id == 4:
            text, first = reports.due(1.0)
            assert first == 4 and text.startswith("1 decision(s) reached the PLC writer after their part had passed")
    assert reports.due(5.0) == ("", None), "within the period: held"
    text, first = reports.due(float("inf"))  # the actuator stops: said then
    assert first == 5 and "2 decision(s)" in text and "13.0-14.0s after the trigger" in text and "parts 5, 6" in text
    assert "250 + 1000 ms" in text and "recorded FAILSAFE_REJECT, not written to the PLC" in text
