"""Bounded logs in real processes: refused values cut, repeats suppressed, the log file rotated by size."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from inspector.config.schema import LogsConfig
from inspector.errors import MessageError
from inspector.messages import Decision, decode_json
from inspector.service_logs import cap_at_spawn, child_log_env

REPO = Path(__file__).resolve().parents[2]


def run_logging_child(log: Path, logs: LogsConfig, body: str) -> subprocess.CompletedProcess:
    """A process started as the supervisor starts a service: stdout and stderr on its log file, the plan in its
    environment; it sets up logging as every 'inspector' command does, then runs ``body``."""
    code = "import logging, sys\nfrom inspector.service_logs import configure_logging\n" \
           "configure_logging(logging.INFO, '%(asctime)s %(levelname)s test %(name)s: %(message)s')\n" \
           "log = logging.getLogger('test')\n" + textwrap.dedent(body)
    with log.open("ab") as out:
        return subprocess.run([sys.executable, "-c", code], stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                              env=child_log_env(logs, log), timeout=60)


def test_a_refused_value_of_megabytes_is_named_in_a_few_hundred_characters():
    payload = json.dumps({"station": "s", "camera": "top", "part_id": "x" * (4 * 1024 * 1024 - 100)}).encode()
    with pytest.raises(MessageError) as err:
        decode_json(Decision, payload)
    text = str(err.value)
    assert len(text) < 600 and "part_id: expected an integer, got 'xxx" in text and "chars)" in text


def test_an_unknown_key_of_megabytes_is_named_in_a_few_hundred_characters():
    payload = json.dumps({"k" * 1_000_000: 1}).encode()
    with pytest.raises(MessageError) as err:
        decode_json(Decision, payload)
    assert len(str(err.value)) < 1200 and "unknown key" in str(err.value)


def test_the_log_file_is_rotated_by_size_and_its_total_stays_bounded(tmp_path):
    log = tmp_path / "recorder.log"
    logs = LogsConfig(max_mb=0.1, backups=2, repeats_per_minute=100000)
    body = """
    for i in range(4000):
        log.info("line %d %s", i, "y" * 150)
        if i % 100 == 0:
            sys.stderr.write("raw output from a library %d\\n" % i)  # not through logging: rotated all the same
    log.error("the last error: %s", "disk gone")
    """
    assert run_logging_child(log, logs, body).returncode == 0
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["recorder.log", "recorder.log.1", "recorder.log.2"], "backups: 2"
    limit = 0.1 * 1024 * 1024
    assert all(f.stat().st_size <= limit + 4096 for f in files)
    assert sum(f.stat().st_size for f in files) <= 3 * (limit + 4096)
    text = log.read_text()
    assert text.rstrip().endswith("ERROR test test: the last error: disk gone"), "the newest lines in the log itself"
    assert "raw output from a library 3900" in text


def test_without_backups_a_full_log_is_emptied(tmp_path):
    log = tmp_path / "camera-top.log"
    body = """
    for i in range(3000):
        log.info("line %d %s", i, "y" * 150)
    """
    assert run_logging_child(log, LogsConfig(max_mb=0.1, backups=0, repeats_per_minute=100000), body).returncode == 0
    assert [f.name for f in tmp_path.iterdir()] == ["camera-top.log"]
    assert log.stat().st_size <= 0.1 * 1024 * 1024 + 4096 and "line 2999" in log.read_text()


def test_the_same_message_repeated_is_suppressed_and_counted_in_one_line(tmp_path):
    log = tmp_path / "actuator.log"
    body = """
    for i in range(500):
        log.error("malformed message on the actuator's input: %s", i)
    log.warning("something else")
    """
    assert run_logging_child(log, LogsConfig(repeats_per_minute=20), body).returncode == 0
    lines = log.read_text().splitlines()
    assert sum("malformed message" in line and "suppressed" not in line for line in lines) == 20
    (summary,) = [line for line in lines if "suppressed" in line]
    assert "suppressed 480 similar messages" in summary and "the last: malformed message on the actuator's input: 499" in summary
    assert any("something else" in line for line in lines), "another message is not held back"


def test_a_huge_message_and_a_huge_traceback_are_cut(tmp_path):
    log = tmp_path / "detector-0.log"
    body = """
    log.error("refused: %s", "z" * 5_000_000)
    try:
        raise ValueError("w" * 5_000_000)
    except ValueError:
        log.exception("failed")
    """
    assert run_logging_child(log, LogsConfig(max_message_chars=2000), body).returncode == 0
    size = log.stat().st_size
    assert size < 20_000, size
    text = log.read_text()
    assert "(+4998009 chars)" in text and "chars cut" in text and "Traceback" in text


def test_a_log_left_past_its_limit_by_a_process_that_never_rotated_is_rotated_at_the_next_start(tmp_path):
    log = tmp_path / "plc-simulator.log"
    log.write_bytes(b"x" * 300_000)
    cap_at_spawn(LogsConfig(max_mb=0.1, backups=1), log)
    assert not log.exists() and (tmp_path / "plc-simulator.log.1").stat().st_size == 300_000
    log.write_bytes(b"y" * 1000)
    cap_at_spawn(LogsConfig(max_mb=0.1, backups=1), log)
    assert log.stat().st_size == 1000, "within its limit: left alone"
