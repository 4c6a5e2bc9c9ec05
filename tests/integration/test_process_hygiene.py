"""`inspector run` as an integrator meets it: killed with SIGKILL, started twice, started on a busy port.

The supervisor runs as a real `inspector run` process here, so it can be killed like one.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from inspector.config import write_config
from inspector.line_runner import decided_count
from inspector.process_guard import STATE_FILE, start_time
from tests.helpers import wait_until


def start_line(config_file: Path, workdir: Path, name: str = "run") -> subprocess.Popen:
    out = (workdir / f"{name}.out").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "inspector", "run", "--config", str(config_file), "--log-dir", str(workdir / f"logs-{name}")],
        stdout=out, stderr=subprocess.STDOUT,
    )


def children(config) -> dict[str, int]:
    """The supervisor's children as it recorded them: name -> pid."""
    path = Path(config.station.state_dir) / STATE_FILE
    if not path.exists():
        return {}
    return {name: pid for name, (pid, _) in json.loads(path.read_text())["children"].items()}


def alive(pid: int) -> bool:
    return start_time(pid) is not None and "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


@pytest.fixture
def station(line_config, tmp_path):
    config = line_config(rate_hz=5)
    config_file = tmp_path / "station.yaml"
    write_config(config, config_file)
    return config, config_file


@pytest.fixture
def tcp_station(line_config, tmp_path):
    """A station whose channels are on loopback TCP ports (as channels that cross hosts): ports to take."""
    config = line_config(rate_hz=5, tcp=True)
    config_file = tmp_path / "station.yaml"
    write_config(config, config_file)
    return config, config_file


def stop(run: subprocess.Popen) -> int:
    if run.poll() is None:
        run.send_signal(signal.SIGTERM)
    return run.wait(60)


def test_a_killed_supervisor_takes_its_line_with_it_and_a_new_one_starts_cleanly(station, tmp_path):
    config, config_file = station
    first = start_line(config_file, tmp_path, "first")
    try:
        wait_until(lambda: decided_count(config) >= 3, 90, "the first line deciding parts")
        pids = children(config)
        assert {"recorder", "actuator", "detector:0", "camera:top", "plc-simulator"} <= set(pids)
        first.kill()  # SIGKILL: no chance to stop its children itself
        first.wait(10)
        wait_until(lambda: not any(alive(pid) for pid in pids.values()), 20, "every child of the killed supervisor to exit")
        decided = decided_count(config)
        second = start_line(config_file, tmp_path, "second")
        try:
            wait_until(lambda: decided_count(config) >= decided + 3, 90, "the new line deciding parts")
        finally:
            assert stop(second) == 0
    finally:
        stop(first)
    assert "Address already in use" not in (tmp_path / "second.out").read_text()


def test_a_child_left_running_is_ended_by_the_next_supervisor(tcp_station, tmp_path):
    """A leftover that outlived its supervisor (one without parent-death signals, or stuck in the kernel):
    here a process holding the recorder's port and ignoring SIGTERM, recorded as the old supervisor's recorder."""
    config, config_file = tcp_station
    port = int(config.transport.decisions.rsplit(":", 1)[1])
    leftover = subprocess.Popen([sys.executable, "-c", (
        "import signal, socket, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); s = socket.socket(); "
        f"s.bind(('127.0.0.1', {port})); s.listen(); print('ready', flush=True); time.sleep(600)"
    )], stdout=subprocess.PIPE, text=True)
    assert leftover.stdout.readline().strip() == "ready"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])  # the old supervisor: its pid no longer runs
    gone_started = start_time(gone.pid)
    gone.wait()
    (Path(config.station.state_dir) / STATE_FILE).write_text(json.dumps({
        "supervisor": [gone.pid, gone_started], "children": {"recorder": [leftover.pid, start_time(leftover.pid)]},
    }))
    run = start_line(config_file, tmp_path, "second")
    try:
        wait_until(lambda: decided_count(config) >= 3, 90, "the new line deciding parts")
        assert leftover.wait(1) == -signal.SIGKILL, "ignored SIGTERM, so it was killed"
    finally:
        assert stop(run) == 0
        leftover.kill()
    out = (tmp_path / "second.out").read_text()
    assert f"recorder (pid {leftover.pid})" in out and "left running by an earlier supervisor" in out


def test_a_second_supervisor_of_a_running_station_is_refused(station, tmp_path):
    config, config_file = station
    first = start_line(config_file, tmp_path, "first")
    try:
        wait_until(lambda: children(config).get("camera:top"), 90, "the first line running")
        second = subprocess.run(
            [sys.executable, "-m", "inspector", "run", "--config", str(config_file)],
            capture_output=True, text=True, timeout=60,
        )
        assert second.returncode == 2
        assert f"already runs under supervisor pid {first.pid}" in second.stderr
        assert first.poll() is None, "the running line is untouched"
    finally:
        assert stop(first) == 0


def test_a_port_taken_by_another_program_is_a_clear_error_not_a_crash_loop(tcp_station, tmp_path):
    config, config_file = tcp_station
    port = int(config.transport.verdicts.rsplit(":", 1)[1])
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        started = time.monotonic()
        run = subprocess.run(
            [sys.executable, "-m", "inspector", "run", "--config", str(config_file)],
            capture_output=True, text=True, timeout=60,
        )
    assert run.returncode == 2 and time.monotonic() - started < 30
    assert f"transport.verdicts: {config.transport.verdicts} is already in use" in run.stderr


def test_a_service_that_refuses_its_setup_stops_the_start_with_its_reason_and_no_camera(line_config, tmp_path):
    config = line_config()
    model = Path(config.detector.model)
    tampered = tmp_path / "model"
    tampered.mkdir()
    for name in ("model.json", "model.sig.json"):
        (tampered / name).write_bytes((model.parent / name).read_bytes())
    data = bytearray(model.read_bytes())
    data[-10] ^= 0xFF
    (tampered / "model.onnx").write_bytes(bytes(data))
    config = dataclasses.replace(config, detector=dataclasses.replace(config.detector, model=str(tampered / "model.onnx")))
    config_file = tmp_path / "station.yaml"
    write_config(config, config_file)
    run = subprocess.run(
        [sys.executable, "-m", "inspector", "run", "--config", str(config_file), "--log-dir", str(tmp_path / "logs")],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 2
    assert "no camera was started" in run.stderr and "detector:0" in run.stderr
    assert "changed after it was signed" in run.stderr
    assert not (tmp_path / "logs" / "camera-top.log").exists()
