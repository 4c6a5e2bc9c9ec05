"""The PLC's own tags settle what the actuator could not see: a write latched late, a part past the reject gate.

Real processes (supervisor, actuator, recorder, the cpppo Logix simulator);
the test is the camera and the detector. The PLC's result tags are read with
pycomm3 to prove what reached it.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time

import pytest

from inspector.config.schema import PlcTags
from inspector.errors import PlcWriteInDoubt
from inspector.line_runner import alarm_rows, part_rows, running_line
from plc_io.handshake import ResultHandshake
from plc_io.logix import RESULT_CODES, read_result_tags
from plc_io.simulator import PlcSimulator
from tests.helpers import wait_until
from tests.integration.line_peers import LinePeers

pytestmark = pytest.mark.slow

FROZEN_S = 5.0


def results_only(config):
    """The line with the result tags only: the decisions are the only requests to the PLC after the first connect, so
    the request in flight when the PLC freezes is a decision's."""
    return dataclasses.replace(config, plc=dataclasses.replace(config.plc, tags=PlcTags()))


def row_of(config, part_id: int):
    return next((r for r in part_rows(config) if r["part_id"] == part_id), None)


def test_a_write_in_flight_when_the_plc_freezes_is_settled_by_its_tags_once_it_resumes(line_config):
    plc = line_config().plc
    plc = dataclasses.replace(plc, tags=PlcTags())
    with PlcSimulator(plc) as simulator:
        handshake = ResultHandshake(plc)
        try:
            handshake.write_decision(1, "PASS")
            os.kill(simulator.process.pid, signal.SIGSTOP)
            try:
                with pytest.raises(PlcWriteInDoubt, match="read back at the reconnect"):
                    handshake.write_decision(2, "REJECT")
                time.sleep(FROZEN_S)
            finally:
                os.kill(simulator.process.pid, signal.SIGCONT)
            wait_until(lambda: _connects(handshake), 15, "a new session")
            settled = handshake.take_settled()
        finally:
            handshake.close()
    assert settled is not None and settled.latched, "the PLC latched the write when it resumed"
    assert (settled.write.part_id, settled.write.sequence) == (2, 2) and settled.late_s >= FROZEN_S
    assert handshake.sequence == 2, "the next result continues after it"


def _connects(handshake: ResultHandshake) -> bool:
    try:
        handshake.connect()
    except Exception:
        return False
    return True


def test_a_decision_the_frozen_plc_latched_late_is_recorded_delivered_late_with_its_sequence(line_config, tmp_path):
    config = results_only(line_config())
    peers = LinePeers(config)
    try:
        with running_line(config, tmp_path, without=("camera:", "detector:")) as supervisor:
            wait_until(lambda: supervisor.process("actuator").last_beat, 60, "the actuator up")
            peers.part(1, "PASS", image=False)
            wait_until(lambda: row_of(config, 1), 30, "part 1 recorded")
            simulator = supervisor.process("plc-simulator").process.pid
            os.kill(simulator, signal.SIGSTOP)
            try:
                frozen_at = time.time()
                peers.part(2, "REJECT", image=False)  # its write goes out to a PLC that does not answer
                time.sleep(FROZEN_S)
            finally:
                os.kill(simulator, signal.SIGCONT)
            late = wait_until(lambda: row_of(config, 2), 30, "part 2 recorded")
            peers.part(3, "PASS", image=False)
            wait_until(lambda: row_of(config, 3), 30, "part 3 recorded")
            tags = read_result_tags(config.plc)
            alarms = [a for a in alarm_rows(config) if a["code"] == "plc_write_late"]  # sent before part 2's record
    finally:
        peers.close()
    assert late["plc_delivered"] == 1, f"recorded undelivered: {late['plc_error']}"
    assert (late["result"], late["plc_seq"]) == ("REJECT", 2), "delivered with the sequence the PLC latched it under"
    assert "latched it late" in late["plc_error"] and "sequence 2" in late["plc_error"]
    assert late["t_plc_written"] - late["t_plc_sent"] >= FROZEN_S - 0.5, "how late: the read back after the PLC resumed"
    assert late["t_plc_written"] >= frozen_at + FROZEN_S
    assert row_of(config, 3)["plc_seq"] == 3 and tags == {"part_id": 3, "result": RESULT_CODES["PASS"], "sequence": 3}
    (alarm,) = alarms
    assert alarm["part_id"] == 2 and "sequence 2" in alarm["text"] and alarm["kind"] == "event"


def test_a_write_the_plc_never_latched_stays_undelivered(line_config, tmp_path):
    config = results_only(line_config())
    peers = LinePeers(config)
    try:
        with running_line(config, tmp_path, without=("camera:", "detector:")) as supervisor:
            wait_until(lambda: supervisor.process("actuator").last_beat, 60, "the actuator up")
            peers.part(1, "PASS", image=False)
            wait_until(lambda: row_of(config, 1), 30, "part 1 recorded")
            simulator = supervisor.process("plc-simulator")
            pid = simulator.process.pid
            os.kill(pid, signal.SIGSTOP)
            peers.part(2, "REJECT", image=False)
            time.sleep(2.0)  # the write is out, unanswered; then the PLC dies with it unread
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: simulator.restarts == 1 and simulator.running, 30, "the PLC simulator restarted")
            lost = wait_until(lambda: row_of(config, 2), 30, "part 2 recorded")
            tags = read_result_tags(config.plc)
    finally:
        peers.close()
    assert lost["plc_delivered"] == 0 and lost["plc_seq"] is None
    assert "the PLC did not latch it" in lost["plc_error"]
    assert tags["part_id"] == 0 and tags["sequence"] == 0, "the restarted PLC never got it"


def test_parts_that_arrive_while_the_actuator_is_down_past_their_gate_are_recorded_fail_safe_never_written(
        line_config, tmp_path):
    config = line_config(budget_ms=300)  # gate window: the default 1 s
    down_s = 3.0  # the supervisor's restart back-off: longer than the deadline and the gate window
    config = dataclasses.replace(config, supervisor=dataclasses.replace(
        config.supervisor, restart_backoff_initial_s=down_s, restart_backoff_max_s=down_s))
    gate_s = (config.actuator.budget_ms + config.actuator.gate_window_ms) / 1000
    assert gate_s < down_s - 1.0
    peers = LinePeers(config)
    try:
        with running_line(config, tmp_path, without=("camera:", "detector:")) as supervisor:
            actuator = supervisor.process("actuator")
            wait_until(lambda: actuator.last_beat, 60, "the actuator up")
            for part_id in (1, 2, 3):
                peers.part(part_id, "PASS", image=False)
            wait_until(lambda: len(part_rows(config)) == 3, 30, "parts 1-3 recorded")
            before = read_result_tags(config.plc)
            os.kill(actuator.process.pid, signal.SIGKILL)
            time.sleep(0.3)
            for part_id in range(4, 14):  # queued for the actuator while it is down, as a camera's socket holds them
                peers.part(part_id, "PASS", image=False)
                time.sleep(0.1)
            wait_until(lambda: actuator.restarts == 1 and actuator.last_beat, 60, "the actuator back")
            wait_until(lambda: len(part_rows(config)) == 13, 30, "parts 4-13 recorded")
            after_outage = read_result_tags(config.plc)
            peers.part(14, "REJECT", image=False)  # the first part after the outage is written as any
            wait_until(lambda: row_of(config, 14), 30, "part 14 recorded")
            after = read_result_tags(config.plc)
            alarm = [a for a in alarm_rows(config) if a["code"] == "decision_past_gate"]  # sent before part 5's record
    finally:
        peers.close()
    rows = {r["part_id"]: r for r in part_rows(config)}
    assert before == {"part_id": 3, "result": RESULT_CODES["PASS"], "sequence": 3}
    assert after_outage == before, "no decision for a part past its gate reached the PLC"
    assert after == {"part_id": 14, "result": RESULT_CODES["REJECT"], "sequence": 4}
    for part_id in range(4, 14):
        row = rows[part_id]
        assert (row["result"], row["plc_delivered"], row["plc_seq"]) == ("FAILSAFE_REJECT", 0, None), part_id
        assert "past the reject gate" in row["plc_error"] and "after its trigger" in row["plc_error"], row["plc_error"]
    assert (rows[14]["plc_delivered"], rows[14]["plc_seq"]) == (1, 4)
    assert alarm and "not written to the PLC" in alarm[0]["text"] and "parts 4" in alarm[0]["text"]
