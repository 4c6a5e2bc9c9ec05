"""The HMI as one of the station's processes: watched by its heartbeats, restarted when it dies or freezes, with a
service_down alarm that clears when it is back (never a black screen left behind). Real processes, offscreen Qt."""

from __future__ import annotations

import dataclasses
import os
import signal

import pytest

from inspector.alarms.board_store import read_board
from inspector.line_runner import running_line
from tests.helpers import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def hmi_alarm(config):
    return next((e for e in read_board(config.station.state_dir) if (e.source, e.code) == ("hmi", "service_down")), None)


def test_a_dead_or_frozen_hmi_is_restarted_with_an_alarm_that_clears(line_config, tmp_path, monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    config = line_config(rate_hz=5)
    config = dataclasses.replace(config, supervisor=dataclasses.replace(config.supervisor, hmi=True))
    with running_line(config, tmp_path, without=("camera", "detector")) as supervisor:
        hmi = supervisor.process("hmi")
        wait_until(lambda: hmi.running and hmi.last_beat, 90, "the HMI's first heartbeat")
        first = hmi.process.pid

        hmi.process.kill()
        wait_until(lambda: (e := hmi_alarm(config)) and e.active, 30, "service_down of the HMI on the board")
        wait_until(lambda: hmi.running and hmi.process.pid != first and hmi.last_beat, 90, "the HMI restarted and beating")
        wait_until(lambda: not ((e := hmi_alarm(config)) and e.active), 10, "the alarm cleared")

        frozen = hmi.process.pid
        os.kill(frozen, signal.SIGSTOP)  # a hung event loop: the process lives, its heartbeats stop
        wait_until(lambda: (e := hmi_alarm(config)) and e.active and "silent" in e.text, 30, "a frozen HMI noticed")
        wait_until(lambda: hmi.running and hmi.process.pid != frozen and hmi.last_beat, 90, "the frozen HMI replaced")
        wait_until(lambda: not ((e := hmi_alarm(config)) and e.active), 10, "the alarm cleared again")
        assert hmi.restarts == 2
