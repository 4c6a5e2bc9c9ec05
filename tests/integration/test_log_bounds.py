"""Logs of a supervised service stay bounded when it refuses a flood of huge malformed messages."""

from __future__ import annotations

import dataclasses
import json

import pytest

from inspector.line_runner import running_line
from tests.helpers import PeerSockets, wait_until

pytestmark = pytest.mark.slow

MESSAGES = 100
SIZE = int(3.9 * 1024 * 1024)


def test_a_hundred_malformed_messages_of_megabytes_leave_a_small_log_and_a_running_service(line_config, tmp_path):
    config = line_config()
    config = dataclasses.replace(config, logs=dataclasses.replace(config.logs, repeats_per_minute=10))
    buggy = PeerSockets(config)
    decisions = buggy.open("actuator", "decisions")
    log = tmp_path / "logs" / "recorder.log"
    try:
        with running_line(config, tmp_path, without=("camera:", "detector:", "actuator", "plc-simulator")) as supervisor:
            recorder = supervisor.process("recorder")
            wait_until(lambda: recorder.last_beat, 60, "the recorder up")
            pid = recorder.process.pid
            before = log.stat().st_size
            value = "x" * (SIZE - 100)
            for i in range(MESSAGES):  # a decision whose part id is megabytes of text
                decisions.send_multipart([b"decision", json.dumps({"station": "s", "camera": "top", "part_id": value}).encode()])
            wait_until(lambda: recorder.counters.get("malformed_messages", 0) >= MESSAGES, 120, "every message refused")
            assert recorder.running and recorder.process.pid == pid and recorder.restarts == 0
            grown = log.stat().st_size - before
    finally:
        buggy.close()
    text = log.read_text()
    assert grown < 20_000, f"{grown} bytes logged for {MESSAGES} refused messages of {SIZE} bytes"
    refused = [line for line in text.splitlines() if "malformed decision message" in line and "suppressed" not in line]
    assert len(refused) == 10, "the first ten in the minute; the rest counted"
    assert all(len(line) < 700 for line in refused) and "part_id: expected an integer, got 'xxx" in refused[0]
    assert "suppressed 90 similar messages" in text, "said when the recorder stopped (the minute not yet over)"
