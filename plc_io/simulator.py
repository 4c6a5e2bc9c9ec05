"""The cpppo Logix simulator as a child process (demo and tests; never a real line)."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time

from inspector.config.schema import PlcConfig
from inspector.errors import PlcError

log = logging.getLogger(__name__)


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.partition(":")
    return host, int(port or 44818)


def simulator_command(config: PlcConfig) -> list[str]:
    """The command line that serves the config's tags on its address."""
    declared = [f"{t.name}={t.type}" for t in config.tags.all()]
    return [sys.executable, "-m", "cpppo.server.enip", "--address", config.address, *declared]


def wait_until_listening(address: str, timeout_s: float = 10.0) -> None:
    host, port = split_address(address)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise PlcError(f"PLC simulator did not start listening on {address} within {timeout_s:.0f}s")


class PlcSimulator:
    """Start/stop a cpppo EtherNet/IP server holding the configured tags."""

    def __init__(self, config: PlcConfig) -> None:
        self.config = config
        self.process: subprocess.Popen | None = None

    def start(self) -> "PlcSimulator":
        self.process = subprocess.Popen(
            simulator_command(self.config), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            wait_until_listening(self.config.address)
        except PlcError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> "PlcSimulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
