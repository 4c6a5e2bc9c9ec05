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
    config = dataclasses.replace(config, supervisor=dataclasses.replace(config.supervisor, hmi="run"))
    with running_line(config, tmp_path, without=("camera", "detector")) as supervisor:
        hmi = supervisor.process("hmi")
        wait_until(lambda: hmi.running and hmi.last_beat, 90, "the HMI's first heartbeat")
        first = hmi.process.pid
        own = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, first) == (10 if os.geteuid() == 0 or own <= 10 else own), \
            "off the decision's path: a lower CPU priority (supervisor.off_path_nice)"
        assert os.getpriority(os.PRIO_PROCESS, supervisor.process("actuator").process.pid) == own, "the line's own: unchanged"

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


def test_an_hmi_its_own_unit_runs_is_watched_an_alarm_while_it_is_down(line_config, tmp_path, monkeypatch):
    import subprocess
    import sys

    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    config = line_config(rate_hz=5)
    config = dataclasses.replace(config, supervisor=dataclasses.replace(config.supervisor, hmi="watch"))
    config_file = tmp_path / "station.yaml"  # running_line writes it there

    def panel() -> subprocess.Popen:  # what inspector-hmi.service runs
        return subprocess.Popen([sys.executable, "-m", "inspector", "hmi", "--config", str(config_file)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    with running_line(config, tmp_path, without=("camera", "detector")) as supervisor:
        hmi = supervisor.process("hmi")
        assert hmi.watched and hmi.process is None
        first = panel()
        try:
            wait_until(lambda: hmi.last_beat, 90, "the panel's heartbeats")
            first.kill()
            first.wait(10)
            wait_until(lambda: (e := hmi_alarm(config)) and e.active and "its own unit restarts it" in e.text, 30,
                       "service_down while the panel is down")
            assert hmi.process is None, "the supervisor starts no second HMI"
            second = panel()
            try:
                wait_until(lambda: not ((e := hmi_alarm(config)) and e.active), 90, "cleared by the panel's next heartbeat")
            finally:
                second.kill()
                second.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
