"""The whole line, as real processes: camera, detector, actuator, recorder, PLC simulator."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys

import pytest

from inspector.config import write_config
from inspector.frame_ring import ring_path
from plc_io.logix import RESULT_CODES, read_result_tags
from tests.helpers import wait_until
from inspector.line_runner import part_rows, running_line

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("frame_handoff", ["auto", "message"])
def test_every_part_gets_one_decision_and_the_plc_holds_the_last(line_config, tmp_path, frame_handoff):
    config = line_config(parts=40, rate_hz=10)
    config = dataclasses.replace(config, transport=dataclasses.replace(config.transport, frame_handoff=frame_handoff))
    ring = ring_path(config.station.state_dir, config.cameras[0].name)
    with running_line(config, tmp_path) as supervisor:
        rows = wait_until(lambda: len(part_rows(config)) >= 40 and part_rows(config), 90, "40 decided parts")
        assert ring.exists() == (frame_handoff == "auto"), "pixels in shared memory on one host unless told otherwise"
        tags = read_result_tags(config.plc)
        assert all(p.restarts == 0 for p in supervisor.processes)
    assert [r["part_id"] for r in rows] == list(range(1, 41))
    assert all(r["plc_delivered"] == 1 and r["latency_ms"] > 0 for r in rows)
    assert {r["source"] for r in rows} == {"verdict"}
    assert sorted(r["decision_seq"] for r in rows) == list(range(1, 41))
    last = max(rows, key=lambda r: r["decision_seq"])
    assert tags == {"part_id": last["part_id"], "result": RESULT_CODES[last["result"]], "sequence": 40}


def test_killing_the_detector_mid_run_restarts_it_and_fails_safe_the_parts_in_flight(line_config, tmp_path):
    config = line_config(parts=70, rate_hz=10)
    with running_line(config, tmp_path) as supervisor:
        wait_until(lambda: len(part_rows(config)) >= 20, 90, "20 decided parts")
        detector = supervisor.process("detector:0")
        old_pid = detector.process.pid
        os.kill(old_pid, signal.SIGKILL)
        wait_until(lambda: detector.restarts == 1 and detector.last_beat, 60, "the detector to be restarted")
        assert detector.process.pid != old_pid
        rows = wait_until(lambda: len(part_rows(config)) >= 70 and part_rows(config), 120, "70 decided parts")
    assert [r["part_id"] for r in rows] == list(range(1, 71)), "every part exactly once"
    failsafe = [r for r in rows if r["result"] == "FAILSAFE_REJECT"]
    assert failsafe, "parts in flight while the detector was down get fail-safe decisions"
    assert all(r["source"] == "deadline" for r in failsafe)
    assert {r["source"] for r in rows[-10:]} == {"verdict"}, "the restarted detector decides parts again"
    assert all(r["plc_delivered"] == 1 for r in rows)


def test_sigterm_stops_the_whole_line_cleanly(line_config, tmp_path):
    config = line_config(parts=0, rate_hz=10)
    config_file = tmp_path / "station.yaml"
    write_config(config, config_file)
    run = subprocess.Popen(
        [sys.executable, "-m", "inspector", "run", "--config", str(config_file), "--log-dir", str(tmp_path / "logs")],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: len(part_rows(config)) >= 10, 90, "10 decided parts")
    finally:
        run.send_signal(signal.SIGTERM)
        _, stderr = run.communicate(timeout=60)
    assert run.returncode == 0, stderr[-2000:]
    survivors = subprocess.run(["pgrep", "-f", str(config_file)], capture_output=True, text=True).stdout.split()
    assert survivors == [], "no service outlives the supervisor"
    rows = part_rows(config)
    assert [r["part_id"] for r in rows] == list(range(1, len(rows) + 1)), "no triggered part left undecided"


def test_a_station_that_requires_verification_reports_no_pass_before_one(line_config, tmp_path):
    config = line_config(parts=12, rate_hz=10)
    config = dataclasses.replace(config, calibration=dataclasses.replace(config.calibration, require_verification=True))
    with running_line(config, tmp_path):
        rows = wait_until(lambda: len(part_rows(config)) >= 12 and part_rows(config), 90, "12 decided parts")
    assert {r["result"] for r in rows} == {"REJECT"}
    truly_good = [r for r in rows if "no PASS before a shift-start verification" in r["reason"]]
    assert truly_good, "parts the model passed are rejected by the gate, saying why"
