"""Losing the PLC in the middle of a run: alarm in bounded time, reconnect, nothing lost silently."""

from __future__ import annotations

import os
import re
import signal
import time

import pytest

from plc_io.logix import read_result_tags
from tests.helpers import wait_until
from inspector.line_runner import alarm_rows, part_rows, running_line

pytestmark = pytest.mark.slow


def test_a_plc_that_dies_and_returns_is_alarmed_reconnected_and_its_gap_recorded(line_config, tmp_path):
    config = line_config(parts=80, rate_hz=10)
    plc = config.plc
    bound_s = plc.heartbeat_period_s + plc.timeout_s  # loss must be seen within one heartbeat and one timeout
    with running_line(config, tmp_path) as supervisor:
        wait_until(lambda: len(part_rows(config)) >= 20, 90, "20 decided parts")
        simulator = supervisor.process("plc-simulator")
        killed_at = time.time()
        os.kill(simulator.process.pid, signal.SIGKILL)
        wait_until(lambda: simulator.restarts == 1 and simulator.running, 30, "the PLC simulator to be restarted")
        rows = wait_until(lambda: len(part_rows(config)) >= 80 and part_rows(config), 120, "80 decided parts")
        tags = read_result_tags(plc)
    lost, restored = [a for a in alarm_rows(config) if a["code"] == "plc_connection_lost"]
    assert lost["active"] == 1 and lost["severity"] == "critical"
    assert killed_at <= lost["t"] <= killed_at + bound_s + 0.5
    assert restored["active"] == 0 and restored["t"] > lost["t"]

    undelivered = [r["part_id"] for r in rows if not r["plc_delivered"]]
    assert undelivered, "decisions made while the PLC was away are recorded as undelivered"
    assert all(r["plc_error"] for r in rows if not r["plc_delivered"])
    first, last = map(int, re.search(r"parts (\d+)\.\.(\d+)", restored["text"]).groups())
    assert undelivered == list(range(first, last + 1)), "the alarm names exactly the undelivered parts"
    assert f"{len(undelivered)} decision(s) were not delivered" in restored["text"]
    assert all(r["plc_delivered"] for r in rows if r["part_id"] > last), "writing resumes after the reconnect"
    assert [r["part_id"] for r in rows] == list(range(1, 81)), "every part still has exactly one decision"
    assert tags["part_id"] == 80
