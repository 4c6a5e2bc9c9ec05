"""Heartbeats: sent from their own thread while the service's loop turns, so a long SQLite write cannot silence a
healthy actuator, while a loop stuck for ``supervisor.heartbeat_timeout_s`` still falls silent.

A real actuator runs in this process; the test is the supervisor (it binds the heartbeats channel) and the camera.
Another connection holds the actuator's journal locked, so the actuator's loop waits in a real SQLite write."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from inspector.actuator.journal import journal_path
from inspector.config import DEFAULT_CONFIG, load_config
from inspector.line_keys import init_keys
from inspector.line_setup import local_line_config
from inspector.messages import Heartbeat, PartSeen
from inspector.service_registry import station_process
from inspector.services.actuator import ActuatorService
from inspector.transport import recv_message, send_message
from tests.helpers import PeerSockets, wait_until


@pytest.fixture
def line(tmp_path):
    config = local_line_config(load_config(DEFAULT_CONFIG), tmp_path / "line", simulate_plc=False)
    init_keys(Path(config.security.keys_dir))
    peers = PeerSockets(config)
    heartbeats = peers.open("supervisor", "heartbeats")
    yield config, peers, heartbeats
    peers.close()


class Beats:
    """The actuator's heartbeats as the supervisor takes them, with their arrival times."""

    def __init__(self, sock) -> None:
        self.sock = sock
        self.times: list[float] = []
        self.loop_stood_s = 0.0

    def take(self, for_s: float, service: ActuatorService | None = None) -> None:
        """Take heartbeats for ``for_s``; with ``service``, note how long its loop stood meanwhile."""
        until = time.monotonic() + for_s
        while (left := until - time.monotonic()) > 0:
            if service is not None:
                self.loop_stood_s = max(self.loop_stood_s, service._heartbeats.stalled_s())
            if self.sock.poll(min(left, 0.05) * 1000):
                beat = recv_message(self.sock)
                if isinstance(beat, Heartbeat) and beat.service == "actuator":
                    self.times.append(time.monotonic())

    def longest_gap(self, since: float, until: float) -> float:
        times = [since] + [t for t in self.times if since <= t <= until] + [until]
        return max(b - a for a, b in zip(times, times[1:]))


class RunningActuator:
    def __init__(self, config) -> None:
        self.service = ActuatorService(config)
        self.thread = threading.Thread(target=self.service.run, daemon=True)

    def __enter__(self) -> ActuatorService:
        self.thread.start()
        return self.service

    def __exit__(self, *exc) -> None:
        self.service.stop()
        self.thread.join(30)


def hold_journal_locked(config, seconds: float) -> threading.Thread:
    """Another connection takes the journal's write lock for ``seconds`` (a long write, or a disk that stalls)."""
    locked = threading.Event()

    def hold() -> None:
        db = sqlite3.connect(str(journal_path(config.station.state_dir)), isolation_level=None)
        db.execute("BEGIN EXCLUSIVE")
        locked.set()
        time.sleep(seconds)
        db.execute("ROLLBACK")
        db.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert locked.wait(10)
    return thread


def test_the_actuators_watchdog_is_tighter_and_it_beats_four_times_within_it(line):
    config = line[0]
    actuator = station_process("actuator")
    assert actuator.heartbeat_timeout_s(config) == config.supervisor.actuator_heartbeat_timeout_s == 3.0
    assert actuator.heartbeat_interval_s(config) == pytest.approx(0.5)
    assert station_process("recorder").heartbeat_timeout_s(config) == config.supervisor.heartbeat_timeout_s == 5.0
    tight = dataclasses.replace(config, supervisor=dataclasses.replace(config.supervisor, heartbeat_timeout_s=1.0))
    assert actuator.heartbeat_timeout_s(tight) == 1.0, "never longer than heartbeat_timeout_s"


def test_a_long_journal_write_does_not_silence_the_actuators_heartbeats(line):
    config, peers, heartbeats = line
    camera = peers.open("camera", "part_seen")
    beats = Beats(heartbeats)
    timeout = station_process("actuator").heartbeat_timeout_s(config)
    with RunningActuator(config) as service:
        wait_until(lambda: beats.take(0.2) or beats.times, 30, "the actuator's first heartbeat")
        holder = hold_journal_locked(config, 2.5)
        start = time.monotonic()
        send_message(camera, PartSeen(config.station.name, "top", 1, 1, time.time()), block=True)
        beats.take(2.5, service)
        holder.join()
        end = time.monotonic()
    assert beats.loop_stood_s > 2.0, "the actuator's loop waited in the journal's write"
    assert service.counters["journal_failed"] == 0, "the write waited for the lock and went through"
    gap = beats.longest_gap(start, end)
    assert gap < timeout, f"heartbeats stopped for {gap:.2f}s while the loop waited on the journal: restarted"


def test_a_loop_stuck_past_heartbeat_timeout_falls_silent(line):
    config, peers, heartbeats = line
    sup = dataclasses.replace(config.supervisor, heartbeat_timeout_s=2.0, actuator_heartbeat_timeout_s=1.0)
    config = dataclasses.replace(config, supervisor=sup)  # a stall allowance of 1 s
    camera = peers.open("camera", "part_seen")
    beats = Beats(heartbeats)
    with RunningActuator(config):
        wait_until(lambda: beats.take(0.2) or beats.times, 30, "the actuator's first heartbeat")
        holder = hold_journal_locked(config, 4.0)  # the loop waits 4 s in one write: stuck, for the watchdog
        start = time.monotonic()
        send_message(camera, PartSeen(config.station.name, "top", 1, 1, time.time()), block=True)
        beats.take(4.0)
        holder.join()
        end = time.monotonic()
        beats.take(1.0)
    assert beats.longest_gap(start, end) > sup.actuator_heartbeat_timeout_s, "a stuck loop must fall silent"
    assert beats.times[-1] > end, "heartbeats resume once the loop turns again"
