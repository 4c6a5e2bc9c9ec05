"""Alarms a plant can live with, on a real supervised line: one owner clears each when its cause ends, events do
not stand, standing alarms after a restart are the current ones, operators acknowledge and quality shelves them.

The board is read where its consumers read it: the actuator's board messages on the observers' feed (HMI, OPC UA),
the PLC's alarm tag, and the board file (MQTT, fleet status)."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time

from hmi.live import EventFeed
from inspector.alarms.board import AlarmBoard
from inspector.alarms.board_store import BoardStore, read_board
from inspector.config.schema import PlcTag
from inspector.line_runner import running_line
from inspector.messages import Alarm, AlarmBoardState, AlarmCommand
from inspector.netutil import accepts_connections
from plc_io.logix import LogixConnection
from tests.helpers import wait_until


def with_alarm_tags(config):
    tags = dataclasses.replace(config.plc.tags, heartbeat=PlcTag("Inspector_Heartbeat"), alarms=PlcTag("Inspector_Alarms"))
    return dataclasses.replace(config, plc=dataclasses.replace(config.plc, tags=tags, heartbeat_period_s=0.2))


def plc_alarm_count(config) -> int | None:
    conn = LogixConnection(config.plc)
    try:
        return conn.read("Inspector_Alarms")["Inspector_Alarms"]
    except Exception:  # noqa: BLE001 - the simulator restarting: no reading now
        return None
    finally:
        conn.close()


class Board:
    """The latest alarm board on the observers' feed."""

    def __init__(self, config) -> None:
        self.feed = EventFeed(config)
        self.latest: AlarmBoardState | None = None
        self.changes: list[Alarm] = []

    def entries(self):
        for message in self.feed.drain():
            if isinstance(message, AlarmBoardState):
                self.latest = message
            elif isinstance(message, Alarm):
                self.changes.append(message)
        return [] if self.latest is None else self.latest.entries

    def entry(self, source: str, code: str):
        return next((e for e in self.entries() if (e.source, e.code) == (source, code)), None)

    def close(self) -> None:
        self.feed.close()


def test_a_service_without_heartbeats_clears_its_alarm_within_two_seconds_of_serving_again(line_config, tmp_path):
    config = with_alarm_tags(line_config(rate_hz=5))
    host, port = config.plc.address.split(":")
    with running_line(config, tmp_path) as supervisor:
        board = Board(config)
        try:
            simulator = supervisor.process("plc-simulator")
            wait_until(lambda: supervisor.process("camera:top").last_beat and board.entries() is not None
                       and board.latest is not None, 60, "the line running and its board on the feed")
            os.kill(simulator.process.pid, signal.SIGKILL)
            wait_until(lambda: (e := board.entry("plc-simulator", "service_down")) and e.active, 20,
                       "service_down of the PLC simulator on the board")
            wait_until(lambda: simulator.running and simulator.restarts == 1, 20, "the simulator restarted")
            wait_until(lambda: accepts_connections(host, int(port)), 20, "the simulator listening again")
            back = time.monotonic()
            wait_until(lambda: not ((e := board.entry("plc-simulator", "service_down")) and e.active), 10,
                       "service_down of the PLC simulator cleared")
            took = time.monotonic() - back
            assert took <= 2.0, f"cleared {took:.1f} s after the simulator listened again"
            wait_until(lambda: plc_alarm_count(config) == 0, 10, "the PLC's alarm tag back to 0")
        finally:
            board.close()


def test_after_a_restart_the_standing_alarms_are_the_current_ones(line_config, tmp_path):
    config = with_alarm_tags(line_config(rate_hz=5))
    # what an earlier run left on the board: the PLC lost (reachable now), and an instance the station no longer runs
    earlier = AlarmBoard(config.station.name, BoardStore(config.station.state_dir), unacked_keep_s=3600,
                         max_shelve_s=3600, owners=None, now=time.time() - 3600)
    earlier.apply(Alarm(config.station.name, "actuator", "plc_connection_lost", "critical", "PLC unreachable",
                        time.time() - 3600), time.time() - 3600)
    earlier.apply(Alarm(config.station.name, "detector:7", "service_down", "critical", "exited", time.time() - 3600,
                        owner="supervisor"), time.time() - 3600)
    earlier.flush()
    earlier.store.close()
    with running_line(config, tmp_path) as supervisor:
        wait_until(lambda: supervisor.process("camera:top").last_beat, 60, "the line running")
        wait_until(lambda: not [e for e in read_board(config.station.state_dir) if e.active], 10,
                   "no standing alarm left from the earlier run")
        wait_until(lambda: plc_alarm_count(config) == 0, 10, "the PLC's alarm tag at 0")
        stale = {e.code: e for e in read_board(config.station.state_dir)}
        assert not stale["plc_connection_lost"].acked and not stale["plc_connection_lost"].active, \
            "returned to normal, still to be acknowledged: it happened"
        shown = subprocess.run([sys.executable, "-m", "inspector", "alarms", "--config", str(tmp_path / "station.yaml")],
                               capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0 and shown.stdout.startswith("0 standing (0 critical"), shown.stdout + shown.stderr
        assert "plc_connection_lost" in shown.stdout and "cleared, to acknowledge" in shown.stdout


def test_events_do_not_stand_operators_acknowledge_and_quality_shelves_through_the_line(line_config, tmp_path):
    config = with_alarm_tags(line_config(rate_hz=5, budget_ms=300))
    with running_line(config, tmp_path, without=("detector",)) as supervisor:  # no verdicts: every part fail-safe
        board = Board(config)
        try:
            wait_until(lambda: (e := board.entry("actuator", "failsafe_decision")) and e.count >= 3, 60,
                       "fail-safe decisions on the board")
            event = board.entry("actuator", "failsafe_decision")
            assert event.kind == "event" and not event.active
            time.sleep(1.0)  # a few PLC heartbeats
            assert plc_alarm_count(config) == 0, "events are not standing alarms: the PLC's alarm tag stays 0"

            ack = AlarmCommand(config.station.name, "acknowledge", "actuator", "failsafe_decision", "olga", "operator",
                               time.time())
            assert board.feed.send_command(ack)
            wait_until(lambda: board.entry("actuator", "failsafe_decision") is None
                       or board.entry("actuator", "failsafe_decision").t_acked is not None
                       or board.entry("actuator", "failsafe_decision").count < event.count, 10,
                       "the acknowledgement applied (a newer fail-safe starts a new entry)")

            recorder = supervisor.process("recorder")
            os.kill(recorder.process.pid, signal.SIGSTOP)  # a standing critical alarm: the recorder silent
            try:
                wait_until(lambda: (e := board.entry("recorder", "service_down")) and e.active, 30, "service_down")
                wait_until(lambda: (plc_alarm_count(config) or 0) >= 1, 10, "the PLC's alarm tag counting it")
                refused = AlarmCommand(config.station.name, "shelve", "recorder", "service_down", "olga", "operator",
                                       time.time(), "annoying", 600)
                board.feed.send_command(refused)
                shelve = AlarmCommand(config.station.name, "shelve", "recorder", "service_down", "quinn", "quality",
                                      time.time(), "recorder maintenance", 600)
                assert board.feed.send_command(shelve)
                wait_until(lambda: (e := board.entry("recorder", "service_down")) and e.shelved_by == "quinn", 10,
                           "the shelving on the board")
                assert board.entry("recorder", "service_down").shelve_reason == "recorder maintenance"
                wait_until(lambda: plc_alarm_count(config) == 0, 10, "a shelved alarm off the PLC's alarm tag")
                board.feed.send_command(AlarmCommand(config.station.name, "unshelve", "recorder", "service_down",
                                                     "quinn", "quality", time.time()))
                wait_until(lambda: (plc_alarm_count(config) or 0) >= 1, 10, "back on the PLC's alarm tag")
            finally:
                os.kill(recorder.process.pid, signal.SIGCONT)
            wait_until(lambda: plc_alarm_count(config) == 0, 30, "cleared when the recorder is back")
        finally:
            board.close()
