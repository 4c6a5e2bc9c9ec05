"""A Mosquitto broker of the bench's own, on a free loopback port, for the plant-outputs benchmark.

Debian's ``mosquitto`` (scripts/ensure-system-packages installs it). It runs
as the current user with its config, persistence and log in the bench's
folder, and is stopped (SIGTERM, then kill) when the bench ends.
"""

from __future__ import annotations

import getpass
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Self

from inspector.errors import InspectorError
from inspector.netutil import free_tcp_port

START_TIMEOUT_S = 20.0


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or next((p for p in ("/usr/sbin/mosquitto", "/usr/bin/mosquitto") if Path(p).is_file()), None)
    if found is None:
        raise InspectorError("the plant-outputs bench needs the MQTT broker mosquitto: run scripts/ensure-system-packages "
                             "(or apt-get install mosquitto)")
    return found


class BenchBroker:
    """``with BenchBroker(folder) as broker:`` a running broker at ``broker.port``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = 0
        self.process: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.folder / "mosquitto.log"

    def __enter__(self) -> Self:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_tcp_port()
        conf = self.folder / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            f"user {getpass.getuser()}\n"  # as root, mosquitto would switch to user 'mosquitto' and could not write here
            "persistence true\n"
            f"persistence_location {self.folder}/\n"
            f"log_dest file {self.log_path}\n"
        )
        self.process = subprocess.Popen([mosquitto_binary(), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                self.process = None
                raise InspectorError(f"mosquitto exited at start: {err.strip()} (config {conf})")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.__exit__()
        raise InspectorError(f"mosquitto did not listen on 127.0.0.1:{self.port} within {START_TIMEOUT_S:g} s")

    def clients_connected(self) -> int:
        """How many client connections the broker logged."""
        try:
            return self.log_path.read_text(errors="replace").count("New client connected")
        except OSError:
            return 0

    def __exit__(self, *exc: object) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if process.stderr:
            process.stderr.close()
