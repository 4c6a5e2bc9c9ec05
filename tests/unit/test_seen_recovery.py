"""A part whose part-seen event never reached the actuator, and after which no part comes, still gets its one decision.

A real actuator service runs in a thread of the test (its sockets CURVE-secured, its PLC absent); the test is the
camera (its part-seen events and its trigger journal, a real SQLite file written as the camera service writes it),
the detector and the recorder, which counts every decision it receives.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

import pytest

from inspector.actuator.journal import journal_path
from inspector.actuator.seen_recovery import MARGIN_S, RECONCILE_EVERY_S
from inspector.messages import Alarm, Decision, PartSeen
from inspector.records.readonly import reading
from inspector.records.trigger_journal import TriggerJournal, trigger_journal_path
from inspector.transport import recv_message, send_message
from tests.unit.test_message_boundary import BUDGET_MS, Line

GATE_WINDOW_S = 1.0  # the shipped actuator.gate_window_ms
PAST_GATE_S = BUDGET_MS / 1000 + GATE_WINDOW_S + MARGIN_S


class CountingLine(Line):
    """The actuator, with every decision the recorder receives counted (a second decision of a part is seen)."""

    def __init__(self, config) -> None:
        self.received: Counter[int] = Counter()
        super().__init__(config)

    def _receive(self, done, what: str, timeout_s: float) -> None:
        until = time.monotonic() + timeout_s
        while not done():
            left = until - time.monotonic()
            assert left > 0 and self.thread.is_alive(), f"{what} (actuator alive: {self.thread.is_alive()})"
            if self.decisions.poll(min(left, 0.5) * 1000):
                message = recv_message(self.decisions)
                if isinstance(message, Decision):
                    self.received[message.part_id] += 1
                    self.decided.setdefault(message.part_id, message)
                elif isinstance(message, Alarm):
                    self.recorded_alarms.append(message)

    def listen(self, seconds: float) -> None:
        """Receive what the actuator sends for ``seconds``."""
        until = time.monotonic() + seconds
        self._receive(lambda: time.monotonic() >= until, "listening", seconds + 5)

    def seen(self, part_id: int, seq: int, t_trigger: float) -> None:
        send_message(self.part_seen, PartSeen("station-1", "top", part_id, seq, t_trigger), block=True)


@pytest.fixture
def line(line_config):
    config = line_config(budget_ms=BUDGET_MS)
    assert config.actuator.gate_window_ms == GATE_WINDOW_S * 1000
    running = CountingLine(config)
    yield running
    running.close()


def test_parts_whose_part_seen_events_were_lost_with_no_part_after_them_are_decided_once_from_the_trigger_journal(line):
    config = line.service.config
    old = time.time() - PAST_GATE_S - 5
    line.seen(1, 1, old)  # heard of: decided by the tracker (past its deadline: fail-safe)
    line.seen(2, 2, old + 0.1)
    assert line.decision(1).source == "deadline" and line.decision(2).source == "deadline"
    camera = TriggerJournal(config.station.state_dir, "top", keep_hours=1)  # the camera's journal: 3 and 4 never came
    try:
        for part_id in range(1, 5):
            camera.record(part_id, part_id, old + (part_id - 1) * 0.1)
    finally:
        camera.close()

    lost = line.decision(3, timeout_s=RECONCILE_EVERY_S + 10), line.decision(4)
    for d in lost:
        assert (d.result, d.source, d.plc_delivered) == ("FAILSAFE_REJECT", "seen_lost", False)
        assert d.t_trigger == old + (d.part_id - 1) * 0.1, "its true trigger time, from the camera's journal"
        assert "not written to the PLC" in d.plc_error
    alarm = line.alarm("part_seen_lost")
    assert "camera top: parts 3, 4" in alarm.text and alarm.part_id == 3

    line.seen(3, 3, old + 0.2)  # part 3's event comes after all: late, decides nothing
    line.part(5, seq=5)  # a gap of one (part 4): decided already, not again
    assert line.decision(5).source == "verdict"
    line.listen(RECONCILE_EVERY_S + 1)
    assert line.received == {1: 1, 2: 1, 3: 1, 4: 1, 5: 1}, "every part, one decision"
    assert [a.code for a in line.recorded_alarms].count("part_seen_lost") == 1
    assert line.service.tracker.counters["part_seen_after_recovery"] == 1
    with reading(journal_path(config.station.state_dir)) as db:
        rows = dict(db.execute("SELECT part_id, seen_seq FROM parts WHERE part_id IN (3, 4)").fetchall())
        numbered = dict(db.execute("SELECT name, value FROM counters").fetchall())
    assert rows == {3: 3, 4: 4}, "journaled with their part-seen numbers"
    assert numbered["delivery_seq"] == 5, "five decisions made in all"
    assert "trigger_entry:top" in numbered


def test_a_damaged_trigger_journal_is_logged_and_the_actuator_goes_on_deciding(line, caplog):
    config = line.service.config
    with caplog.at_level(logging.ERROR, logger="inspector.actuator.seen_recovery"):
        trigger_journal_path(config.station.state_dir, "top").write_bytes(b"\0not sqlite" * 800)
        logged = lambda: any("triggers cannot be reconciled" in r.getMessage() for r in caplog.records)  # noqa: E731
        until = time.monotonic() + 30  # a reconcile pass every RECONCILE_EVERY_S; more on a loaded machine
        while not logged() and time.monotonic() < until:
            line.listen(RECONCILE_EVERY_S)
        line.part(1)
        assert line.decision(1).source == "verdict"
    assert line.thread.is_alive()
    assert logged()


def test_a_key_holders_sequence_jump_over_parts_the_camera_never_triggered_decides_none_of_them(line):
    """Seen in the chaos suite: one part-seen with its sequence jumped made the actuator decide 10,000 made-up parts
    below the forged id, queued ahead of real parts' PLC writes (real parts 5-12 reached the writer 71-75 s late)."""
    config = line.service.config
    camera = TriggerJournal(config.station.state_dir, "top", keep_hours=1)
    try:
        now = time.time()
        for part_id in (1, 2, 3):
            camera.record(part_id, part_id, now)
    finally:
        camera.close()
    for part_id in (1, 2):
        line.part(part_id, seq=part_id)
        assert line.decision(part_id).source == "verdict"
    line.part(2**40, seq=2**40)  # a forged event: the camera never triggered the parts below it, nor part 3 yet
    jumped = line.alarm("part_seen_jumped")
    assert "never held" in jumped.text and jumped.part_id == 2**40
    line.part(3, seq=3)  # the real next part: decided at once, from its verdict
    assert line.decision(3).source == "verdict"
    line.listen(1.0)
    assert set(line.received) == {1, 2, 3, 2**40}, "no decision made up for the ids below the forged one"
    assert "part_seen_lost" not in [a.code for a in line.recorded_alarms]
