"""Under systemd: the supervisor and the HMI say READY, ping the watchdog while their loops turn, and say STOPPING.

systemd's end is played by a real AF_UNIX datagram socket that, like systemd, learns each sender's pid from the
kernel (SO_PASSCRED): with NotifyAccess=main, only the unit's main process may notify.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from inspector.config import write_config
from tests.helpers import wait_until

pytestmark = pytest.mark.slow

PING_S = 0.5  # WATCHDOG_USEC of 1 s: the supervisor pings every half second


class Manager:
    """systemd's side of NOTIFY_SOCKET: each datagram with the pid of the process that sent it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.got: list[tuple[int, str]] = []

    def receive(self, timeout_s: float) -> list[tuple[int, str]]:
        """Everything that arrives within ``timeout_s`` (also kept in ``got``)."""
        new = []
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data, ancillary, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(struct.calcsize("3i")))
            except TimeoutError:
                break
            pid = next(struct.unpack("3i", payload[:12])[0] for level, kind, payload in ancillary
                       if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS)
            new.append((pid, data.decode()))
        self.got += new
        return new

    def wait_for(self, line: str, timeout_s: float, count: int = 1) -> None:
        wait_until(lambda: self.receive(0.2) is not None and self.count(line) >= count, timeout_s,
                   f"{count} x {line} from the process")

    def count(self, line: str) -> int:
        return sum(line in text.split("\n") for _, text in self.got)

    def lines(self) -> list[str]:
        return [line for _, text in self.got for line in text.split("\n")]

    def close(self) -> None:
        self.sock.close()


def systemd_env(manager: Manager, watchdog_usec: int) -> dict[str, str]:
    return {**os.environ, "NOTIFY_SOCKET": str(manager.path), "WATCHDOG_USEC": str(watchdog_usec)}


def test_the_supervisor_says_ready_pings_while_its_loop_turns_and_says_stopping(line_config, tmp_path):
    config = line_config(parts=0, rate_hz=5)
    config_file = tmp_path / "station.yaml"
    write_config(config, config_file)
    manager = Manager(tmp_path / "notify")
    run = subprocess.Popen(
        [sys.executable, "-m", "inspector", "run", "--config", str(config_file), "--log-dir", str(tmp_path / "logs")],
        env=systemd_env(manager, 1_000_000), stderr=subprocess.PIPE, text=True,
    )
    try:
        manager.wait_for("READY=1", 120)
        lines = manager.lines()
        assert "WATCHDOG=1" not in lines[:lines.index("READY=1")], "no watchdog ping before the line is up"
        assert any(line.startswith("STATUS=line up:") for line in lines), lines
        manager.wait_for("WATCHDOG=1", 20, count=3)

        children = json.loads((Path(config.station.state_dir) / "supervisor.json").read_text())["children"]
        for name, (pid, _) in children.items():
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            assert not any(v.startswith(b"NOTIFY_SOCKET=") for v in environ), f"{name} inherited NOTIFY_SOCKET"

        os.kill(run.pid, signal.SIGSTOP)  # frozen: systemd must hear nothing, and restart it at WatchdogSec
        try:
            time.sleep(0.3)
            manager.receive(0.1)  # a ping sent just before the stop
            assert manager.receive(5 * PING_S) == [], "a stopped supervisor sends no watchdog ping"
        finally:
            os.kill(run.pid, signal.SIGCONT)
        pings = manager.count("WATCHDOG=1")
        manager.wait_for("WATCHDOG=1", 20, count=pings + 1)
    finally:
        run.send_signal(signal.SIGTERM)
        _, stderr = run.communicate(timeout=90)
    manager.receive(0.5)
    manager.close()
    assert run.returncode == 0, stderr[-2000:]
    assert "STOPPING=1" in manager.lines()
    assert manager.lines().index("STOPPING=1") > manager.lines().index("READY=1")
    assert {pid for pid, _ in manager.got} == {run.pid}, "only the unit's main process notifies (NotifyAccess=main)"


def test_the_hmi_says_ready_and_pings_from_its_event_loop(line_config, tmp_path):
    config = line_config()
    config_file = tmp_path / "station.yaml"
    write_config(config, config_file)
    manager = Manager(tmp_path / "notify")
    hmi = subprocess.Popen(
        [sys.executable, "-m", "inspector", "hmi", "--config", str(config_file), "--db-only", "--fullscreen"],
        env={**systemd_env(manager, 2_000_000), "QT_QPA_PLATFORM": "offscreen"}, stderr=subprocess.PIPE, text=True,
    )
    try:
        manager.wait_for("READY=1", 120)
        manager.wait_for("WATCHDOG=1", 20, count=3)
        os.kill(hmi.pid, signal.SIGSTOP)  # a frozen screen
        try:
            time.sleep(0.3)
            manager.receive(0.1)
            assert manager.receive(2.5) == [], "a stopped HMI sends no watchdog ping"
        finally:
            os.kill(hmi.pid, signal.SIGCONT)
        pings = manager.count("WATCHDOG=1")
        manager.wait_for("WATCHDOG=1", 20, count=pings + 1)
    finally:
        hmi.terminate()
        _, stderr = hmi.communicate(timeout=30)
    manager.close()
    assert f"STATUS=HMI of {config.station.name} shown" in manager.lines(), stderr[-2000:]
    assert {pid for pid, _ in manager.got} == {hmi.pid}
