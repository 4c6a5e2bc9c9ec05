"""No squatting, and a watchdog that is tight for the actuator without false restarts.

The chaos round: another process bound the actuator's port 6 ms after it died and held it; the recorder's bind
error was hidden by a teardown error; a frozen actuator was killed only after 5 s. Here, on a real line under a
real supervisor: the endpoints are socket files in an owner-only folder; a squatter that takes an endpoint while
its service restarts is named (pid) in the service_down alarm and the supervisor's log; a frozen actuator is
restarted within its watchdog (3 s, not 5); and a loaded machine with a long journal write restarts nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import stat
import subprocess
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from hmi.live import EventFeed
from inspector.actuator.journal import journal_path
from inspector.channels import CHANNELS, endpoint
from inspector.line_runner import decided_count, part_rows, running_line
from inspector.messages import Alarm
from tests.helpers import wait_until


def take_on_signal(where: str) -> subprocess.Popen:
    """A process that takes ``where`` (a TCP port, or a socket file: unlinked and bound, as ZeroMQ would) once it
    reads a line, retrying until the endpoint is free, and holds it."""
    if where.startswith("tcp://"):
        port = int(where.rsplit(":", 1)[1])
        make = (f"s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
                f"s.bind(('127.0.0.1', {port}))")
    else:
        path = where[len("ipc://"):]
        make = f"s = socket.socket(socket.AF_UNIX); os.path.exists({path!r}) and os.unlink({path!r}); s.bind({path!r})"
    code = (
        "import os, socket, sys, time\n"
        "sys.stdin.readline()\n"
        "for _ in range(500):\n"
        f"    try:\n        {make}\n        break\n"
        "    except OSError:\n        time.sleep(0.002)\n"
        "s.listen()\nprint('taken', flush=True)\ntime.sleep(120)\n"
    )
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


@pytest.mark.parametrize("tcp", [False, True], ids=["socket-file", "tcp-port"])
def test_an_endpoint_taken_while_the_recorder_restarts_is_named_in_its_alarm_and_log(line_config, tmp_path, caplog, tcp):
    config = line_config(tcp=tcp)
    squatter = take_on_signal(endpoint(config, "decisions"))
    alarms: list[Alarm] = []

    def recorder_down() -> list[Alarm]:
        alarms.extend(m for m in feed.drain() if isinstance(m, Alarm))
        return [a for a in alarms if a.source == "recorder" and a.code == "service_down" and a.active
                and f"pid {squatter.pid}" in a.text]

    try:
        with caplog.at_level(logging.ERROR, logger="inspector.supervisor"), \
                running_line(config, tmp_path, without=("camera", "detector")) as supervisor:
            feed = EventFeed(config)
            try:
                recorder = supervisor.process("recorder")
                wait_until(lambda: recorder.last_beat and supervisor.process("actuator").last_beat, 60, "the line up")
                os.kill(recorder.process.pid, signal.SIGKILL)
                squatter.stdin.write("go\n")
                squatter.stdin.flush()
                assert squatter.stdout.readline().strip() == "taken"
                down = wait_until(recorder_down, 30, "the recorder's service_down alarm naming the squatter")
                assert "in use" in down[0].text or "Address already in use" in down[0].text
                assert "AttributeError" not in down[0].text
                assert f"pid {squatter.pid}" in caplog.text, "the supervisor's log names the holder"
                squatter.kill()  # the holder leaves: the recorder is back
                wait_until(lambda: recorder.running and recorder.last_beat, 60, "the recorder back")
            finally:
                feed.close()
    finally:
        squatter.kill()
        squatter.wait()


def test_a_line_on_socket_files_decides_every_part_and_keeps_its_folder_owner_only(line_config, tmp_path):
    config = line_config(rate_hz=10)
    folder = Path(endpoint(config, "verdicts")[len("ipc://"):]).parent
    with running_line(config, tmp_path):
        wait_until(lambda: decided_count(config) >= 5, 90, "parts decided over the socket files")
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert all(stat.S_ISSOCK(os.lstat(folder / name).st_mode) for name in CHANNELS)
    rows = part_rows(config)
    assert rows and all(r["plc_delivered"] for r in rows)


def test_a_frozen_actuator_is_restarted_within_its_watchdog(line_config, tmp_path):
    config = line_config()
    sup = dataclasses.replace(config.supervisor, heartbeat_timeout_s=5.0)  # the shipped timeouts: 5 s, the actuator's 3 s
    config = dataclasses.replace(config, supervisor=sup)
    watchdog = config.supervisor.actuator_heartbeat_timeout_s
    assert watchdog < sup.heartbeat_timeout_s
    with running_line(config, tmp_path, without=("camera", "detector")) as supervisor:
        actuator = supervisor.process("actuator")
        wait_until(lambda: actuator.last_beat, 60, "the actuator up")
        frozen = actuator.process.pid
        os.kill(frozen, signal.SIGSTOP)
        stopped = time.monotonic()
        wait_until(lambda: actuator.restart_at is not None or actuator.restarts >= 1, 10, "the frozen actuator killed")
        took = time.monotonic() - stopped
        assert took < watchdog + 0.5, f"killed {took:.2f}s after it froze (its watchdog: {watchdog} s)"
        wait_until(lambda: actuator.running and actuator.last_beat, 30, "the actuator back")


def busy_cores(count: int) -> list[subprocess.Popen]:
    """``count`` processes that keep a core busy each (the machine's load)."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def test_a_loaded_machine_and_a_long_journal_write_restart_nothing(line_config, tmp_path):
    config = line_config(rate_hz=10)
    sup = dataclasses.replace(config.supervisor, heartbeat_timeout_s=5.0)  # the shipped timeouts: 5 s and 3 s
    config = dataclasses.replace(config, supervisor=sup)
    with running_line(config, tmp_path) as supervisor:
        wait_until(lambda: decided_count(config) >= 5, 90, "the line deciding parts")
        load = busy_cores(os.cpu_count() or 2)
        try:
            time.sleep(5)
            db = sqlite3.connect(str(journal_path(config.station.state_dir)), isolation_level=None)
            db.execute("BEGIN EXCLUSIVE")  # the journal's disk stalls for 3 s: every write waits
            time.sleep(3)
            db.execute("ROLLBACK")
            db.close()
            time.sleep(10)
        finally:
            for busy in load:
                busy.kill()
                busy.wait()
        restarted = {p.name: p.restarts for p in supervisor.processes if p.restarts}
        assert restarted == {}, f"restarted under load: {restarted}"
