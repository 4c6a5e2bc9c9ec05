"""The PLC side against a real EtherNet/IP server (cpppo's Logix simulator) on loopback."""

from __future__ import annotations

import dataclasses
from pathlib import Path
import subprocess
import sys
import time

import pytest

from inspector.actuator.delivery import DecisionDelivery
from inspector.config import DEFAULT_CONFIG, load_config, write_config
from inspector.config.schema import PlcConfig, PlcTag
from inspector.errors import PlcError
from inspector.line_setup import local_line_config
from inspector.messages import Alarm, Decision
from inspector.netutil import free_tcp_port
from inspector.transport import recv_message
from inspector.channels import LineSockets
from inspector.line_keys import init_keys
from plc_io.handshake import FAULT_FAILSAFE, FAULT_NONE, ResultHandshake
from plc_io.logix import RESULT_CODES, LogixConnection
from plc_io.probe import probe
from plc_io.simulator import PlcSimulator
from tests.helpers import PeerSockets


@pytest.fixture
def plc_config() -> PlcConfig:
    base = load_config(DEFAULT_CONFIG).plc
    tags = dataclasses.replace(base.tags, ack=PlcTag("Inspector_Ack"))
    return dataclasses.replace(base, address=f"127.0.0.1:{free_tcp_port()}", tags=tags, heartbeat_period_s=0.1)


@pytest.fixture
def simulator(plc_config):
    with PlcSimulator(plc_config) as sim:
        yield sim


def read_tags(config: PlcConfig, *names: str) -> dict:
    conn = LogixConnection(config)
    try:
        return conn.read(*names)
    finally:
        conn.close()


def test_each_decision_lands_with_its_part_id_result_and_next_sequence(plc_config, simulator):
    handshake = ResultHandshake(plc_config)
    tags = plc_config.tags
    try:
        for part_id, result in [(101, "PASS"), (102, "REJECT"), (103, "FAILSAFE_REJECT"), (104, "FAILSAFE_PASS")]:
            before = time.time()
            sent, confirmed = handshake.write_decision(part_id, result)
            assert before <= sent <= confirmed <= time.time()
            held = read_tags(plc_config, tags.part_id.name, tags.result.name, tags.sequence.name, tags.inspections.name)
            assert held == {
                tags.part_id.name: part_id,
                tags.result.name: RESULT_CODES[result],
                tags.sequence.name: part_id - 100,
                tags.inspections.name: 0,  # the result write carries the result tags only
            }
        handshake.write_heartbeat(FAULT_NONE)  # the count goes with the auxiliary tags
        assert read_tags(plc_config, tags.inspections.name) == {tags.inspections.name: 4}
    finally:
        handshake.close()


def test_a_part_id_beyond_the_dint_is_written_wrapped_and_never_zero(plc_config, simulator):
    handshake = ResultHandshake(plc_config)
    tags = plc_config.tags
    shown = []
    try:
        for part_id in (2**31 - 2, 2**31 - 1, 2**31, 2**31 + 1, 2 * (2**31 - 1), 2**63 - 1):
            handshake.write_decision(part_id, "PASS")
            shown.append(read_tags(plc_config, tags.part_id.name)[tags.part_id.name])
    finally:
        handshake.close()
    assert shown == [2**31 - 2, 2**31 - 1, 1, 2, 2**31 - 1, (2**63 - 2) % (2**31 - 1) + 1]
    assert 0 not in shown


def test_a_new_connection_continues_the_sequence_the_plc_holds(plc_config, simulator):
    first = ResultHandshake(plc_config)
    first.write_decision(1, "PASS")
    first.write_decision(2, "PASS")
    first.close()
    second = ResultHandshake(plc_config)  # an actuator restart
    second.write_decision(3, "REJECT")
    second.close()
    assert read_tags(plc_config, plc_config.tags.sequence.name)[plc_config.tags.sequence.name] == 3


def test_the_heartbeat_advances_and_carries_the_fault_code(plc_config, simulator):
    handshake = ResultHandshake(plc_config)
    tags = plc_config.tags
    try:
        for _ in range(3):
            handshake.write_heartbeat(FAULT_FAILSAFE)
        held = read_tags(plc_config, tags.heartbeat.name, tags.fault_code.name)
    finally:
        handshake.close()
    assert held == {tags.heartbeat.name: 3, tags.fault_code.name: FAULT_FAILSAFE}


def test_a_tag_of_another_type_is_refused_with_its_name(plc_config, simulator):
    wrong = dataclasses.replace(plc_config, tags=dataclasses.replace(plc_config.tags, result=PlcTag("Inspector_Result", "INT")))
    handshake = ResultHandshake(wrong)
    with pytest.raises(PlcError, match=r"tag Inspector_Result: controller type is DINT, config says INT"):
        handshake.write_decision(1, "REJECT")


def test_a_missing_tag_is_refused_with_its_name(plc_config, simulator):
    missing = dataclasses.replace(plc_config, tags=dataclasses.replace(plc_config.tags, inspections=PlcTag("Inspector_Nope")))
    report = probe(missing, writes=5)
    assert not report.ok
    assert [t.problem for t in report.tags if t.name == "Inspector_Nope"] == [
        "missing on the controller (the PLC replied: Destination unknown, class unsupported, instance undefined or "
        "structure element undefined)"
    ]
    assert report.refused == ["Inspector_Nope"]
    assert all(not t.problem for t in report.tags if t.name != "Inspector_Nope")


def test_probe_reports_identity_tags_and_write_latency(plc_config, simulator, tmp_path):
    config = local_line_config(load_config(DEFAULT_CONFIG), tmp_path, simulate_plc=False)
    config = dataclasses.replace(config, plc=plc_config)
    write_config(config, tmp_path / "station.yaml")
    run = subprocess.run(
        [sys.executable, "-m", "inspector", "plc", "probe", "--config", str(tmp_path / "station.yaml"), "--writes", "20"],
        capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "1756-L61/B LOGIX5561" in run.stdout
    assert "tag Inspector_Heartbeat (DINT, heartbeat): ok" in run.stdout
    assert "write round trip over 20 decision-shaped writes" in run.stdout
    assert run.stdout.strip().endswith("result: OK")


def test_an_unreachable_plc_fails_fast_and_names_the_address(plc_config):
    conn = LogixConnection(plc_config)  # nothing listens on this port
    started = time.monotonic()
    with pytest.raises(PlcError, match=plc_config.address):
        conn.read(plc_config.tags.sequence.name)
    assert time.monotonic() - started < plc_config.timeout_s + 1
    with pytest.raises(PlcError, match="next reconnect attempt"):
        conn.read(plc_config.tags.sequence.name)  # inside the back-off: no new attempt


def test_unacknowledged_results_raise_an_alarm(plc_config, simulator, tmp_path):
    config = local_line_config(load_config(DEFAULT_CONFIG), tmp_path, simulate_plc=False)
    plc = dataclasses.replace(plc_config, ack_timeout_s=0.3)
    config = dataclasses.replace(config, plc=plc)
    init_keys(Path(config.security.keys_dir))
    peers = PeerSockets(config)  # the recorder's end, with its key
    recorder = peers.open("recorder", "decisions")
    actuator = LineSockets(config, "actuator")
    delivery = DecisionDelivery.for_station(config, actuator)
    delivery.start()
    try:
        now = time.time()
        delivery.submit(Decision("station-1", "top", 7, 0, "REJECT", "verdict", now, now, False))
        messages = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(isinstance(m, Alarm) and m.code == "plc_ack_timeout" for m in messages):
            if recorder.poll(100):
                messages.append(recv_message(recorder))
    finally:
        delivery.close()
        peers.close()
        actuator.close()
    decision = next(m for m in messages if isinstance(m, Decision))
    assert decision.plc_delivered and decision.part_id == 7
    alarm = next(m for m in messages if isinstance(m, Alarm) and m.code == "plc_ack_timeout")  # (a loaded machine may add plc_write_late)
    assert "sequence 1" in alarm.text


def test_the_heartbeat_goes_in_the_gap_after_a_decision_and_keeps_its_period(plc_config, simulator, tmp_path):
    """Parts at 10/s, heartbeat every 0.5 s: each heartbeat write follows a decision write, none delays one."""
    config = local_line_config(load_config(DEFAULT_CONFIG), tmp_path, simulate_plc=False)
    config = dataclasses.replace(config, plc=dataclasses.replace(plc_config, heartbeat_period_s=0.5))
    init_keys(Path(config.security.keys_dir))
    peers = PeerSockets(config)  # the recorder's end, with its key
    peers.open("recorder", "decisions")
    actuator = LineSockets(config, "actuator")
    delivery = DecisionDelivery.for_station(config, actuator)
    writes: list[tuple[str, float, float]] = []

    def recorded(kind, write):
        def wrapper(*args):
            start = time.monotonic()
            result = write(*args)
            writes.append((kind, start, time.monotonic()))
            return result
        return wrapper

    delivery.plc.write_decision = recorded("decision", delivery.plc.write_decision)
    delivery.plc.write_heartbeat = recorded("heartbeat", delivery.plc.write_heartbeat)
    delivery.start()
    try:
        for part_id in range(1, 31):
            now = time.time()
            delivery.submit(Decision("station-1", "top", part_id, 0, "PASS", "verdict", now, now, False))
            time.sleep(0.1)
    finally:
        delivery.close()
        peers.close()
        actuator.close()
    first_decision = next(i for i, w in enumerate(writes) if w[0] == "decision")
    beats = [w for w in writes[first_decision:] if w[0] == "heartbeat"]
    assert len(beats) >= 4  # 3 s of parts
    for beat in beats:
        before = writes[writes.index(beat) - 1]
        assert before[0] == "decision" and beat[1] - before[2] < 0.01  # straight after a decision write
    starts = [w[1] for w in writes if w[0] == "heartbeat"]
    assert max(b - a for a, b in zip(starts, starts[1:])) < 0.5 + 0.1  # never later than its period (+ one write)
    assert min(b - a for a, b in zip(starts, starts[1:])) > 0.5 * 0.75 - 0.01  # early by at most a quarter period
