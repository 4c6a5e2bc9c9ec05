"""No message stops the actuator: whatever handling one raises is caught at its message boundary, and the next part
is decided.

A real actuator service runs (in a thread of the test, its sockets CURVE-secured as on a line, its PLC absent: each
decision is recorded undelivered, as when the PLC is away); the test is the camera, the detector, another owner of
alarms and the recorder, holding their station keys.
"""

from __future__ import annotations

import threading
import time

import pytest

from inspector.actuator.alarm_keeper import AlarmKeeper
from inspector.actuator.tracker import PartTracker
from inspector.line_runner import part_rows
from inspector import messages as m
from inspector.messages import Alarm, Decision, PartSeen
from inspector.services import recorder as recorder_module
from inspector.services.actuator import ActuatorService
from inspector.services.heartbeats import HeartbeatSender
from inspector.transport import recv_message, send_message
from tests.helpers import PeerSockets, wait_until
from tests.unit.factories import a_verdict

BUDGET_MS = 1500  # generous: a busy machine must not turn a verdict late


class Line:
    """A running actuator and the test as its peers."""

    def __init__(self, config) -> None:
        self.service = ActuatorService(config)
        self.peers = PeerSockets(config)
        self.decisions = self.peers.open("recorder", "decisions")
        self.part_seen = self.peers.open("camera", "part_seen")
        self.verdicts = self.peers.open("detector", "verdicts")
        self.alarms = self.peers.open("detector", "alarms")
        self.thread = threading.Thread(target=self.service.run, name="actuator", daemon=True)
        self.thread.start()
        self.decided: dict[int, Decision] = {}
        self.recorded_alarms: list[Alarm] = []
        wait_until(lambda: getattr(self.service, "delivery", None) and self.service.delivery.is_alive(), 30,
                   "the actuator to start")
        time.sleep(0.3)  # the peers' connections settle

    def part(self, part_id: int, seq: int | None = None, verdict: bool = True) -> None:
        now = time.time()
        send_message(self.part_seen, PartSeen("station-1", "top", part_id, part_id if seq is None else seq, now), block=True)
        if verdict:
            send_message(self.verdicts, a_verdict(part_id=part_id, seq=part_id, result="PASS", detections=[],
                                                  t_trigger=now, t_verdict=now + 0.01), block=True)

    def decision(self, part_id: int, timeout_s: float = 10.0) -> Decision:
        """The decision of ``part_id``, as the recorder receives it."""
        self._receive(lambda: part_id in self.decided, f"part {part_id} got no decision", timeout_s)
        return self.decided[part_id]

    def alarm(self, code: str, timeout_s: float = 10.0) -> Alarm:
        """The first alarm ``code`` the recorder receives."""
        found = lambda: [a for a in self.recorded_alarms if a.code == code]  # noqa: E731
        self._receive(found, f"no {code} alarm", timeout_s)
        return found()[0]

    def _receive(self, done, what: str, timeout_s: float) -> None:
        until = time.monotonic() + timeout_s
        while not done():
            left = until - time.monotonic()
            assert left > 0 and self.thread.is_alive(), f"{what} (actuator alive: {self.thread.is_alive()})"
            if self.decisions.poll(min(left, 0.5) * 1000):
                message = recv_message(self.decisions)
                if isinstance(message, Decision) and message.part_id not in self.decided:  # the first one: the part's
                    self.decided[message.part_id] = message
                elif isinstance(message, Alarm):
                    self.recorded_alarms.append(message)

    def close(self) -> None:
        self.service.stop()
        self.thread.join(15)
        self.peers.close()


@pytest.fixture
def line(line_config):
    running = Line(line_config(budget_ms=BUDGET_MS))
    yield running
    running.close()
    assert not running.thread.is_alive(), "the actuator stops when asked"


def test_a_part_seen_whose_sequence_jumps_by_2_63_costs_no_part_its_decision(line):
    """Before: the actuator counted the jump as 2**63 lost part-seen events and built their decisions, forever; and
    two such jumps counted more missing events than a heartbeat carries, so the supervisor would refuse its beats."""
    line.part(1, seq=1)
    assert line.decision(1).source == "verdict"
    line.part(2, seq=2**63 - 1)
    line.part(3, seq=2**63 - 1)
    assert line.decision(2).source == "verdict"
    assert line.decision(3).source == "verdict"
    line.part(4, seq=1)  # as a restarted camera
    line.part(5, seq=2**63 - 1)
    assert line.decision(5).source == "verdict"
    assert line.service.gaps.missing > m.MAX_INT64
    beat = m.decode(m.encode(HeartbeatSender(line.service.name, None, 1.0, 1.0, line.service.heartbeat_counters).heartbeat()))
    assert beat.counters["part_seen_missing"] == m.MAX_INT64, "the supervisor takes the actuator's heartbeat"
    assert line.thread.is_alive()


def test_whatever_handling_a_verdict_raises_the_actuator_decides_the_next_part(line, monkeypatch):
    real = PartTracker.on_verdict

    def broken_for_part_5(self, verdict, now):
        if verdict.part_id == 5:
            raise KeyError("a bug this message finds")
        return real(self, verdict, now)

    monkeypatch.setattr(PartTracker, "on_verdict", broken_for_part_5)
    line.part(4)
    assert line.decision(4).source == "verdict"
    line.part(5)
    line.part(6)
    assert line.decision(6).source == "verdict", "the next part is decided"
    five = line.decision(5)
    assert (five.result, five.source) == ("FAILSAFE_REJECT", "deadline"), "the part whose verdict was dropped fails safe"
    assert line.service.counters["message_errors"] == 1
    assert "KeyError: 'a bug this message finds'" in line.alarm("message_refused").text, "the operator is told"
    assert line.thread.is_alive()


def test_a_part_id_of_2_63_is_refused_naming_the_field_and_the_next_part_is_decided(line):
    """The chaos round's finding: a key holder's part-seen event with part id 2**63 killed the actuator (an
    OverflowError in its journal), then the recorder, and a real part got no decision."""
    now = time.time()
    forged = m.encode(PartSeen("station-1", "top", 2**63, 9, now))
    line.part_seen.send_multipart(forged)
    line.part(10)
    assert line.decision(10).source == "verdict"
    alarm = line.alarm("message_refused")
    assert "PartSeen header field part_id: must be at most 9223372036854775807, got 9223372036854775808" in alarm.text
    assert line.service.counters["malformed_messages"] == 1 and line.thread.is_alive()


def test_whatever_taking_an_alarm_raises_the_delivery_thread_goes_on_deciding(line, monkeypatch):
    real = AlarmKeeper.take

    def broken_for_one_code(self, message):
        if isinstance(message, Alarm) and message.code == "boom":
            raise ValueError("a bug this alarm finds")
        return real(self, message)

    monkeypatch.setattr(AlarmKeeper, "take", broken_for_one_code)
    line.part(7)
    assert line.decision(7).source == "verdict"
    send_message(line.alarms, Alarm("station-1", "detector:0", "boom", "warning", "x", time.time()), block=True)
    time.sleep(0.3)
    line.part(8)
    assert line.decision(8).source == "verdict", "the delivery thread still delivers"
    assert line.service.delivery.is_alive()
    assert line.service.delivery.counters["message_errors"] == 1


def test_whatever_turning_a_decision_into_its_row_raises_the_recorder_records_the_next(line_config, monkeypatch):
    """The recorder's message boundary: the decision it could not take stays in the actuator's journal."""
    real = recorder_module.decision_row

    def broken_for_part_2(decision):
        if decision.part_id == 2:
            raise OverflowError("a bug this decision finds")
        return real(decision)

    monkeypatch.setattr(recorder_module, "decision_row", broken_for_part_2)
    config = line_config()
    service = recorder_module.RecorderService(config)
    thread = threading.Thread(target=service.run, name="recorder", daemon=True)
    thread.start()
    peers = PeerSockets(config)
    try:
        decisions = peers.open("actuator", "decisions")
        wait_until(lambda: hasattr(service, "poller"), 30, "the recorder to start")
        for part_id in (1, 2, 3):
            now = time.time()
            send_message(decisions, Decision("station-1", "top", part_id, part_id, "PASS", "verdict", now, now, True),
                         block=True)
        rows = wait_until(lambda: len(part_rows(config)) >= 2 and part_rows(config), 20, "parts 1 and 3 recorded")
        assert [r["part_id"] for r in rows] == [1, 3]
        assert thread.is_alive() and service.counters["message_errors"] == 1
    finally:
        service.stop()
        thread.join(15)
        peers.close()
    assert not thread.is_alive()
