"""Auxiliary PLC tags never cost a result: against the cpppo Logix simulator on loopback.

The results (part id, result, sequence) go in their own request; heartbeat,
fault code, alarm count, inspections count and ack go in theirs. A tag the
PLC refuses is named in ``plc_tag_refused`` and never drops the session.
"""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pytest
import zmq

from inspector.actuator.delivery import DecisionDelivery
from inspector.channels import LineSockets
from inspector.config import DEFAULT_CONFIG, load_config, write_config
from inspector.config.schema import PlcConfig, PlcTag, PlcTags
from inspector.errors import PlcError, PlcTagRefused
from inspector.line_keys import init_keys
from inspector.line_setup import local_line_config
from inspector.messages import Alarm, Decision
from inspector.netutil import free_tcp_port
from inspector.transport import recv_message
from plc_io.logix import LogixConnection
from plc_io.simulator import PlcSimulator, split_address
from tests.helpers import PeerSockets, wait_until

AUX_NAMES = {
    "inspections": "Inspector_Inspections",
    "heartbeat": "Inspector_Heartbeat",
    "fault_code": "Inspector_Fault",
    "alarms": "Inspector_Alarms",
    "ack": "Inspector_Ack",
}


def plc_with(*aux: str, **overrides) -> PlcConfig:
    """The default PLC config on a free port, with the result tags and only the auxiliary tags named."""
    base = load_config(DEFAULT_CONFIG).plc
    tags = PlcTags(**{key: PlcTag(AUX_NAMES[key]) for key in aux})
    settings = dict(address=f"127.0.0.1:{free_tcp_port()}", tags=tags, heartbeat_period_s=0.05,
                    ack_timeout_s=0.2 if "ack" in aux else 0.0)
    return dataclasses.replace(base, **{**settings, **overrides})


def without(plc: PlcConfig, key: str) -> PlcConfig:
    """The same PLC lacking one tag (what a simulator serving it holds)."""
    return dataclasses.replace(plc, tags=dataclasses.replace(plc.tags, **{key: None}))


class Stream:
    """What the delivery sends the recorder (decisions and alarms, in order)."""

    def __init__(self, sock: zmq.Socket) -> None:
        self.sock = sock
        self.messages: list[object] = []

    def until(self, condition: Callable[["Stream"], bool], timeout_s: float, what: str) -> "Stream":
        deadline = time.monotonic() + timeout_s
        while not condition(self):
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {what}")
            if self.sock.poll(50):
                self.messages.append(recv_message(self.sock))
        return self

    @property
    def decisions(self) -> list[Decision]:
        return [m for m in self.messages if isinstance(m, Decision)]

    def alarms(self, code: str) -> list[Alarm]:
        return [m for m in self.messages if isinstance(m, Alarm) and m.code == code]


@contextmanager
def running_delivery(tmp_path: Path, plc: PlcConfig) -> Iterator[tuple[DecisionDelivery, Stream]]:
    """The actuator's delivery thread on this PLC, and the recorder's end of its stream."""
    config = local_line_config(load_config(DEFAULT_CONFIG), tmp_path, simulate_plc=False)
    config = dataclasses.replace(config, plc=plc)
    init_keys(Path(config.security.keys_dir))
    peers = PeerSockets(config)
    stream = Stream(peers.open("recorder", "decisions"))
    actuator = LineSockets(config, "actuator")
    delivery = DecisionDelivery.for_station(config, actuator)
    delivery.start()
    try:
        yield delivery, stream
    finally:
        delivery.close()
        peers.close()
        actuator.close()


def submit_parts(delivery: DecisionDelivery, count: int, period_s: float = 0.05, first: int = 1) -> None:
    """Decisions at a steady rate, the third one fail-safe (the fault code goes to 1)."""
    for part_id in range(first, first + count):
        now = time.time()
        result = "FAILSAFE_REJECT" if part_id == first + 2 else "PASS"
        delivery.submit(Decision("station-1", "top", part_id, 0, result, "verdict", now, now, False))
        time.sleep(period_s)


def read_tags(plc: PlcConfig, *names: str) -> dict:
    conn = LogixConnection(plc)
    try:
        return conn.read(*names)
    finally:
        conn.close()


# -- one request, one tag -----------------------------------------------------------------


def test_a_single_tag_write_is_taken_and_the_session_stays_open():
    plc = plc_with("heartbeat")
    with PlcSimulator(plc):
        conn = LogixConnection(plc)
        try:
            for value in (7, 8, 9):
                conn.write(("Inspector_Heartbeat", value))  # one tag: pycomm3's single Write Tag request
                assert conn.read("Inspector_Heartbeat") == {"Inspector_Heartbeat": value}
            assert conn.connects == 1, "no write dropped the session"
        finally:
            conn.close()


def test_a_tag_the_plc_refuses_is_named_and_the_session_stays_open():
    plc = plc_with("heartbeat", "fault_code")
    with PlcSimulator(without(plc, "fault_code")):
        conn = LogixConnection(plc)
        try:
            conn.ensure_connected()
            assert list(conn.tag_problems) == ["Inspector_Fault"]
            assert conn.tag_problems["Inspector_Fault"].startswith("missing on the controller (the PLC replied: Destination unknown")
            for tags in ([("Inspector_Fault", 1)], [("Inspector_Heartbeat", 5), ("Inspector_Fault", 1)]):
                with pytest.raises(PlcTagRefused, match="Inspector_Fault") as refusal:
                    conn.write(*tags)
                assert list(refusal.value.refused) == ["Inspector_Fault"]
            assert conn.read("Inspector_Heartbeat") == {"Inspector_Heartbeat": 5}, "the good tag of the request was written"
            assert conn.connected and conn.connects == 1
        finally:
            conn.close()


def test_a_value_that_does_not_fit_its_tag_is_refused_before_anything_is_written():
    plc = plc_with("heartbeat", "fault_code", "alarms")
    plc = dataclasses.replace(plc, tags=dataclasses.replace(plc.tags, fault_code=PlcTag("Inspector_Fault", "SINT"),
                                                           alarms=PlcTag("Inspector_Alarms", "INT")))
    with PlcSimulator(plc):
        conn = LogixConnection(plc)
        try:
            conn.write(("Inspector_Heartbeat", 1), ("Inspector_Fault", 1), ("Inspector_Alarms", 1))
            for bad in [("Inspector_Fault", 128)], [("Inspector_Alarms", 2**15)], [("Inspector_Heartbeat", 2**31)]:
                with pytest.raises(PlcError, match=rf"nothing written: tag {bad[0][0]}: {bad[0][1]} is outside"):
                    conn.write(("Inspector_Heartbeat", 2), *bad)  # the heartbeat first: pycomm3 would write it alone
            assert conn.read("Inspector_Heartbeat", "Inspector_Fault", "Inspector_Alarms") == {
                "Inspector_Heartbeat": 1, "Inspector_Fault": 1, "Inspector_Alarms": 1}
            assert conn.connects == 1
        finally:
            conn.close()


# -- the delivery thread ------------------------------------------------------------------


@pytest.mark.parametrize("key", list(AUX_NAMES))
def test_each_auxiliary_tag_configured_alone_costs_no_result(tmp_path, key):
    plc = plc_with(key)
    parts = 40
    with PlcSimulator(plc), running_delivery(tmp_path, plc) as (delivery, stream):
        delivery.submit_alarm(Alarm("station-1", "camera:top", "camera_lost", "critical", "unplugged", time.time()))
        submit_parts(delivery, parts)
        stream.until(lambda s: len(s.decisions) == parts, 30, f"{parts} decisions")
        time.sleep(0.3)  # a few more heartbeats
        held = read_tags(plc, AUX_NAMES[key])[AUX_NAMES[key]]
        counters = dict(delivery.counters)
    assert [d.part_id for d in stream.decisions if not d.plc_delivered] == []
    assert counters.get("plc_undelivered", 0) == 0
    assert not stream.alarms("plc_connection_lost") and not stream.alarms("plc_tag_refused")
    expected = {"inspections": parts, "fault_code": 1, "alarms": 1, "ack": 0}  # the ack: the simulator's PLC never acks
    if key == "heartbeat":
        assert held >= 10, "the heartbeat advanced every period"
    else:
        assert held == expected[key]


@pytest.mark.parametrize("key", list(AUX_NAMES))
def test_a_tag_the_plc_lacks_costs_no_result_and_raises_plc_tag_refused_naming_it(tmp_path, key):
    plc = plc_with(*AUX_NAMES)
    parts = 20
    with PlcSimulator(without(plc, key)), running_delivery(tmp_path, plc) as (delivery, stream):
        submit_parts(delivery, parts)
        stream.until(lambda s: len(s.decisions) == parts and s.alarms("plc_tag_refused"), 30,
                     f"{parts} decisions and plc_tag_refused")
        time.sleep(0.3)
        others = [name for k, name in AUX_NAMES.items() if k not in (key, "ack")]
        held = read_tags(without(plc, key), *others)
    assert [d.part_id for d in stream.decisions if not d.plc_delivered] == []
    assert [d.plc_seq for d in stream.decisions] == list(range(1, parts + 1))
    assert not stream.alarms("plc_connection_lost")
    refused = stream.alarms("plc_tag_refused")
    assert [(a.active, a.source, a.kind) for a in refused] == [(True, "actuator", "condition")]
    assert f"{AUX_NAMES[key]} ({key}): missing on the controller (the PLC replied: Destination unknown" in refused[0].text
    assert "results are still delivered" in refused[0].text
    if "Inspector_Heartbeat" in held:
        assert held["Inspector_Heartbeat"] > 5, "the other auxiliary tags are still written"
    if "Inspector_Inspections" in held:
        assert held["Inspector_Inspections"] == parts


def test_plc_tag_refused_clears_once_the_plc_has_the_tag(tmp_path):
    plc = plc_with("heartbeat", "alarms")
    simulator = PlcSimulator(without(plc, "alarms")).start()
    try:
        with running_delivery(tmp_path, plc) as (delivery, stream):
            stream.until(lambda s: s.alarms("plc_tag_refused"), 15, "plc_tag_refused")
            simulator.stop()  # the PLC program is corrected: it now has the tag
            simulator = PlcSimulator(plc).start()
            stream.until(lambda s: [a for a in s.alarms("plc_tag_refused") if not a.active], 15, "plc_tag_refused cleared")
            submit_parts(delivery, 5)
            stream.until(lambda s: len(s.decisions) == 5, 15, "5 decisions")
            time.sleep(0.2)
            held = read_tags(plc, "Inspector_Alarms")
    finally:
        simulator.stop()
    raised, cleared = stream.alarms("plc_tag_refused")
    assert raised.active and not cleared.active and "Inspector_Alarms" in raised.text
    assert all(d.plc_delivered for d in stream.decisions)
    assert held == {"Inspector_Alarms": 0}


# -- losing the PLC and getting it back ---------------------------------------------------


class DeadPlc:
    """A port that takes TCP connections and closes them at once: a PLC that is away, whose reconnect attempts are seen."""

    def __init__(self, address: str) -> None:
        host, port = split_address(address)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(8)
        self.sock.settimeout(0.05)
        self.attempts: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.attempts.append(time.monotonic())
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def test_plc_connection_lost_clears_within_2s_of_the_plc_listening_again_with_no_parts(tmp_path):
    plc = plc_with("heartbeat", heartbeat_period_s=0.5)
    simulator = PlcSimulator(plc).start()
    try:
        with running_delivery(tmp_path, plc) as (delivery, stream):
            time.sleep(0.6)  # connected, beating
            simulator.stop()
            stream.until(lambda s: s.alarms("plc_connection_lost"), 10, "plc_connection_lost")
            dead = DeadPlc(plc.address)
            try:  # away for 6 s: long enough for any back-off to reach its longest
                time.sleep(6)
                last = len(dead.attempts)
                wait_until(lambda: len(dead.attempts) > last, 10, "one more reconnect attempt")
            finally:
                dead.close()
            gaps = [b - a for a, b in zip(dead.attempts, dead.attempts[1:])]
            simulator = PlcSimulator(plc).start()  # returns once the simulator listens
            listening = time.time()
            stream.until(lambda s: [a for a in s.alarms("plc_connection_lost") if not a.active], 10, "the alarm cleared")
    finally:
        simulator.stop()
    cleared = next(a for a in stream.alarms("plc_connection_lost") if not a.active)
    print(f"reconnect attempts {len(gaps) + 1}, longest gap {max(gaps):.2f} s; cleared {cleared.t - listening:.2f} s "
          "after the PLC listened again")
    assert max(gaps) < 1.5, "a reconnect is attempted at least every second (plus one attempt's time)"
    assert cleared.t - listening < 2.0


# -- inspector plc probe ------------------------------------------------------------------


def test_probe_writes_every_tag_alone_and_together_changes_nothing_and_names_the_refused_one(tmp_path):
    plc = plc_with(*AUX_NAMES)
    config = local_line_config(load_config(DEFAULT_CONFIG), tmp_path, simulate_plc=False)
    write_config(dataclasses.replace(config, plc=plc), tmp_path / "station.yaml")
    values = {"Inspector_PartId": 41, "Inspector_Result": 2, "Inspector_ResultSeq": 17, "Inspector_Inspections": 17,
              "Inspector_Heartbeat": 900, "Inspector_Fault": 1}

    def run_probe() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "inspector", "plc", "probe", "--config", str(tmp_path / "station.yaml"), "--writes", "5"],
            capture_output=True, text=True, timeout=60,
        )

    with PlcSimulator(without(plc, "alarms")):
        conn = LogixConnection(without(plc, "alarms"))
        conn.write(*values.items())
        conn.close()
        refused = run_probe()
        after = read_tags(without(plc, "alarms"), *values)
    assert refused.returncode == 1, refused.stderr
    assert "tag Inspector_Alarms (DINT, alarms): REFUSED: missing on the controller" in refused.stdout
    assert refused.stdout.strip().endswith("result: PROBLEMS FOUND (refused: Inspector_Alarms)")
    assert "tag Inspector_ResultSeq (DINT, sequence): ok (read 17, wrote it back alone, read back 17)" in refused.stdout
    assert "every written tag in one request (6 tags, their own values): ok" in refused.stdout
    assert after == values, "the probe wrote every tag back with the value it held: the PLC latches nothing new"

    with PlcSimulator(plc):
        fine = run_probe()
    assert fine.returncode == 0, fine.stdout + fine.stderr
    for key, name in AUX_NAMES.items():
        state = "ok (read 0)" if key == "ack" else "ok (read 0, wrote it back alone, read back 0)"
        assert f"tag {name} (DINT, {key}): {state}" in fine.stdout
    assert "every written tag in one request (7 tags, their own values): ok" in fine.stdout
    assert fine.stdout.strip().endswith("result: OK")


def test_probe_only_reads_while_inspector_writes_the_tags(tmp_path):
    plc = plc_with("heartbeat", heartbeat_period_s=0.1)
    with PlcSimulator(plc), running_delivery(tmp_path, plc):
        time.sleep(0.3)
        from plc_io.probe import probe

        report = probe(plc, writes=5)
    assert report.ok and not report.write_ms and not report.together_tags
    assert any("Inspector is writing these tags now (Inspector_Heartbeat" in note for note in report.notes)
    assert all(t.detail.startswith("read ") and "wrote" not in t.detail for t in report.tags)
