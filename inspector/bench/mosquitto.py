"""A Mosquitto broker of our own on a free loopback port: for the plant-outputs bench and the MQTT tests.

Debian's ``mosquitto`` (scripts/ensure-system-packages installs it). It runs
as the current user with its config, persistence and log in the given folder.
Persistence is on (as on a plant's broker), so a subscriber's session and the
messages queued for it survive a restart of the broker. It is stopped as a
service manager would (SIGTERM, so it saves its persistence file; then kill).
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
        raise InspectorError("the MQTT broker mosquitto is not installed: run scripts/ensure-system-packages "
                             "(or apt-get install mosquitto)")
    return found


class LocalBroker:
    """``with LocalBroker(folder) as broker:`` a running broker at ``broker.port``; ``restart()`` to take it away a moment."""

    def __init__(self, folder: Path, listener_options: str = "allow_anonymous true\n") -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_tcp_port()
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"user {getpass.getuser()}\n"  # as root, mosquitto would switch to user 'mosquitto' and could not write here
            f"{listener_options}"
            "persistence true\n"
            f"persistence_location {folder}/\n"
            "max_queued_messages 0\n"  # no limit on what waits for a disconnected subscriber
            "max_inflight_messages 100\n"
            f"log_dest file {self.log_path}\n"
        )
        self.process: subprocess.Popen | None = None
        self.restarts = 0

    @property
    def log_path(self) -> Path:
        return self.folder / "mosquitto.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _launch(self) -> subprocess.Popen:
        """The broker's process (a subclass may start it otherwise: tied to its parent, output to a file)."""
        return subprocess.Popen([mosquitto_binary(), "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> None:
        self.process = self._launch()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                self.process = None
                raise InspectorError(f"mosquitto exited at start: {err.strip()} (config {self.conf})")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise InspectorError(f"mosquitto did not listen on 127.0.0.1:{self.port} within {START_TIMEOUT_S:g} s")

    def stop(self) -> None:
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

    def restart(self) -> None:
        self.stop()
        self.start()
        self.restarts += 1

    def clients_connected(self) -> int:
        """How many client connections the broker logged."""
        try:
            return self.log_path.read_text(errors="replace").count("New client connected")
        except OSError:
            return 0

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
