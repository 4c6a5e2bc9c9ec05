"""The plant around the station in a soak: the MQTT broker and a subscriber of its own, the PLC.

- :class:`TiedBroker`: :class:`~inspector.bench.mosquitto.LocalBroker`, started tied to the soak.
- :class:`MqttTap`: ``mosquitto_sub`` (Debian's ``mosquitto-clients``) as an independent plant client with a
  persistent session (QoS 1), writing every message to a file; :meth:`MqttTap.read_new` parses what came since.
- :class:`ExternalPlc`: the cpppo Logix simulator run by the soak, as a plant's PLC is run by nobody at the
  station: it can be killed, hung, and restarted serving fewer tags (a tag the PLC refuses).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import threading
from collections import Counter
from pathlib import Path

from inspector.bench.mosquitto import LocalBroker, mosquitto_binary
from inspector.bench.soak.procs import spawn, stop_process
from inspector.config.schema import PlcConfig
from inspector.errors import InspectorError
from inspector.process_guard import guarded
from plc_io.simulator import simulator_command, wait_until_listening


class TiedBroker(LocalBroker):
    """The soak's Mosquitto: dies with the soak, out of the terminal's Ctrl-C."""

    def _launch(self) -> subprocess.Popen:
        return spawn([mosquitto_binary(), "-c", str(self.conf)], self.folder / "mosquitto.out")


class MqttTap:
    """Every message under ``topic`` (``root/#``), counted per topic; part results and alarms kept for the accounting."""

    def __init__(self, port: int, topic: str, file: Path) -> None:
        if shutil.which("mosquitto_sub") is None:
            raise InspectorError("mosquitto_sub is not installed: run scripts/ensure-system-packages "
                                 "(or apt-get install mosquitto-clients)")
        self.port, self.topic, self.file = port, topic, file
        self.process: subprocess.Popen | None = None
        self._offset = 0
        self._partial = b""
        self._lock = threading.Lock()
        self.per_topic: Counter[str] = Counter()
        self.parts: list[tuple[str, int, float]] = []  # (camera, part_id, t_trigger) per part-result message
        self.alarms: list[tuple[str, str, bool, float]] = []  # (source, code, active, t)
        self.unreadable = 0

    def start(self) -> None:
        # -c with a client id: a persistent session, so what the broker holds for it while it reconnects still comes
        command = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.port), "-t", self.topic, "-q", "1", "-c",
                   "-i", f"soak-tap-{self.port}", "-F", "%t\t%p"]
        with self.file.open("ab") as out:
            self.process = subprocess.Popen(guarded(command), stdout=out, stderr=subprocess.DEVNULL, process_group=0)

    def read_new(self) -> None:
        """Parse what arrived in the file since the last call."""
        try:
            with self.file.open("rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
        except OSError:
            return
        self._offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        with self._lock:
            for line in lines:
                self._take(line)

    def _take(self, line: bytes) -> None:
        topic, sep, payload = line.partition(b"\t")
        if not sep:
            self.unreadable += 1
            return
        name = topic.decode(errors="replace")
        self.per_topic[name] += 1
        if "/parts/" not in name and not name.endswith("/alarms"):
            return
        try:
            body = json.loads(payload)
            if "/parts/" in name:
                self.parts.append((str(body["camera"]), int(body["part_id"]), float(body["t_trigger"])))
            else:
                self.alarms.append((str(body["source"]), str(body["code"]), bool(body["active"]), float(body["t"])))
        except (ValueError, KeyError, TypeError):
            self.unreadable += 1

    def snapshot(self) -> tuple[dict[str, int], list[tuple[str, int, float]], list[tuple[str, str, bool, float]], int]:
        with self._lock:
            return dict(self.per_topic), list(self.parts), list(self.alarms), self.unreadable

    def stop(self) -> None:
        stop_process(self.process, 5)
        self.process = None
        self.read_new()


class ExternalPlc:
    """The PLC simulator, run by the soak; ``start(refuse=...)`` serves every configured tag but those named."""

    def __init__(self, config: PlcConfig, log: Path) -> None:
        self.config, self.log = config, log
        self.process: subprocess.Popen | None = None
        self.refusing: tuple[str, ...] = ()
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None and self.process.poll() is None else None

    def start(self, refuse: tuple[str, ...] = ()) -> None:
        tags = self.config.tags
        served = {f.name: getattr(tags, f.name) for f in dataclasses.fields(tags)}
        served = {k: (None if v is not None and v.name in refuse and k not in ("part_id", "result", "sequence") else v)
                  for k, v in served.items()}
        config = dataclasses.replace(self.config, tags=dataclasses.replace(tags, **served))
        self.process = spawn(simulator_command(config), self.log)
        self.refusing = refuse
        self.starts += 1
        wait_until_listening(self.config.address, timeout_s=30)

    def kill(self) -> int | None:
        """SIGKILL; the pid it had."""
        process, self.process = self.process, None
        if process is None:
            return None
        process.kill()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            pass
        return process.pid

    def stop(self) -> None:
        stop_process(self.process, 5)
        self.process = None
