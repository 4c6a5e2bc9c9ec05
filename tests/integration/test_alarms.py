"""Alarms reach the operator and the PLC without the recorder: restarts, a recorder outage, late PLC writes."""

from __future__ import annotations

import dataclasses
import os
import signal
import time

from hmi.live import EventFeed
from inspector.actuator.delivery import DecisionDelivery
from inspector.channels import LineSockets
from inspector.config.schema import PlcTag
from inspector.line_runner import alarm_rows, running_line
from inspector.messages import Alarm, Decision
from inspector.transport import recv_message
from plc_io.logix import LogixConnection
from tests.helpers import PeerSockets, wait_until


def plc_alarm_count(config) -> int:
    conn = LogixConnection(config.plc)
    try:
        return conn.read("Inspector_Alarms")["Inspector_Alarms"]
    finally:
        conn.close()


def test_a_service_down_reaches_the_hmi_and_the_plc_while_the_recorder_is_down(line_config, tmp_path):
    config = line_config(rate_hz=5)
    tags = dataclasses.replace(config.plc.tags, heartbeat=PlcTag("Inspector_Heartbeat"), alarms=PlcTag("Inspector_Alarms"))
    config = dataclasses.replace(config, plc=dataclasses.replace(config.plc, tags=tags, heartbeat_period_s=0.2))
    alarms: list[Alarm] = []

    def seen(source: str, active: bool) -> list[Alarm]:
        alarms.extend(m for m in feed.drain() if isinstance(m, Alarm))
        return [a for a in alarms if a.source == source and a.code == "service_down" and a.active == active]

    with running_line(config, tmp_path) as supervisor:
        feed = EventFeed(config)
        try:
            recorder = supervisor.process("recorder")
            wait_until(lambda: recorder.last_beat and supervisor.process("camera:top").last_beat, 60, "the line running")
            os.kill(recorder.process.pid, signal.SIGSTOP)  # the recorder hangs: only the supervisor notices
            down = wait_until(lambda: seen("recorder", True), 30, "the recorder-down alarm on the HMI's feed")
            assert down[0].severity == "critical" and "silent for" in down[0].text
            assert "recorded once the recorder is back" in down[0].text
            wait_until(lambda: plc_alarm_count(config) >= 1, 10, "the PLC's alarm tag counting it")
            wait_until(lambda: seen("recorder", False), 60, "the all-clear once the recorder runs again")
            wait_until(lambda: plc_alarm_count(config) == 0, 10, "the PLC's alarm tag clear")
            detector = supervisor.process("detector:0")
            os.kill(detector.process.pid, signal.SIGKILL)
            killed = wait_until(lambda: seen("detector:0", True), 30, "the detector-down alarm")
            assert "exited with code -9" in killed[0].text and "rejected fail-safe" in killed[0].text
        finally:
            feed.close()
        recorded = wait_until(
            lambda: [a for a in alarm_rows(config) if a["code"] == "service_down" and a["source"] == "recorder"],
            30, "the recorder's own outage in its database",
        )
    assert {bool(a["active"]) for a in recorded} == {True, False}


def test_a_plc_write_confirmed_after_the_budget_is_alarmed(line_config, tmp_path):
    from plc_io.simulator import PlcSimulator

    config = line_config(budget_ms=1)  # any real write is confirmed later than 1 ms after its trigger
    config = dataclasses.replace(config, plc=dataclasses.replace(config.plc, heartbeat_period_s=60))
    peers = PeerSockets(config)
    recorder = peers.open("recorder", "decisions")
    actuator = LineSockets(config, "actuator")
    with PlcSimulator(config.plc):
        delivery = DecisionDelivery.for_station(config, actuator)
        delivery.start()
        try:
            now = time.time()
            for part_id in (1, 2, 3):
                delivery.submit(Decision("station-1", "top", part_id, 0, "PASS", "verdict", now, now, False))
            messages = []
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and len([m for m in messages if isinstance(m, Decision)]) < 3:
                if recorder.poll(100):
                    messages.append(recv_message(recorder))
        finally:
            delivery.close()
            peers.close()
            actuator.close()
    late = [m for m in messages if isinstance(m, Alarm) and m.code == "plc_write_late"]
    assert len(late) == 1, "the first late write at once; the next ones in the periodic report"
    assert "1 PLC write(s) confirmed after the budget (parts 1)" in late[0].text and "budget 1 ms" in late[0].text
    assert delivery.counters["plc_write_late"] == 3
    assert all(m.plc_delivered for m in messages if isinstance(m, Decision)), "late is still delivered"
