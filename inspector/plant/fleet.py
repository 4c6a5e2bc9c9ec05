"""What several stations publish on one broker, read back: ``inspector fleet status``.

Each station's publisher keeps its state (``online``/``offline``, the latter by
last will when it goes silent) and its KPIs retained on the broker, so a
client that connects now gets the latest of every station at once.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import paho.mqtt.client as mqtt

from inspector.errors import InspectorError

HIERARCHY = ("enterprise", "site", "area", "line", "cell")


class FleetError(InspectorError):
    """The broker cannot be read."""


@dataclass
class StationView:
    path: str
    state: dict | None = None
    kpi: dict | None = None


@dataclass
class FleetSnapshot:
    stations: dict[str, StationView] = field(default_factory=dict)
    ignored: int = 0  # retained messages on matching topics that are not an Inspector station's


def parse_broker(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host:
        return text, 1883
    try:
        return host, int(port)
    except ValueError as err:
        raise FleetError(f"--broker {text!r}: expected HOST or HOST:PORT") from err


def read_fleet(host: str, port: int, prefix: str = "", wait_s: float = 3.0, quiet_s: float = 0.5, username: str | None = None,
               password: str | None = None, ca_file: str | None = None, cert_file: str | None = None,
               key_file: str | None = None) -> FleetSnapshot:
    """The retained state and KPIs of every station under ``prefix`` (topic levels, e.g. 'acme/plant1')."""
    levels = [lvl for lvl in prefix.strip("/").split("/") if lvl]
    if len(levels) > len(HIERARCHY):
        raise FleetError(f"--path {prefix!r} has more levels than {'/'.join(HIERARCHY)}")
    base = "/".join(levels + ["+"] * (len(HIERARCHY) - len(levels)))
    snapshot = FleetSnapshot()
    lock = threading.Lock()
    last_message = [time.monotonic()]
    subscribed = threading.Event()

    def on_connect(client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            errors.append(f"the broker refused the connection: {reason_code}")
            subscribed.set()
            return
        client.subscribe([(f"{base}/state", 1), (f"{base}/kpi", 1)])

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        last_message[0] = time.monotonic()
        subscribed.set()

    def on_message(client, userdata, msg):
        with lock:
            last_message[0] = time.monotonic()
            path, _, kind = msg.topic.rpartition("/")
            try:
                payload = json.loads(msg.payload)
                schema = payload.get("schema")
            except (ValueError, AttributeError):
                snapshot.ignored += 1
                return
            if kind == "state" and schema == "inspector.station_state":
                snapshot.stations.setdefault(path, StationView(path)).state = payload
            elif kind == "kpi" and schema == "inspector.kpi":
                snapshot.stations.setdefault(path, StationView(path)).kpi = payload
            else:
                snapshot.ignored += 1

    errors: list[str] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="", clean_session=True, protocol=mqtt.MQTTv311)
    if username:
        client.username_pw_set(username, password)
    if ca_file:
        client.tls_set(ca_certs=ca_file, certfile=cert_file, keyfile=key_file, cert_reqs=ssl.CERT_REQUIRED)
    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    try:
        client.connect(host, port, keepalive=30)
    except (OSError, ssl.SSLError) as err:
        raise FleetError(f"cannot reach the broker at {host}:{port}: {err}") from err
    client.loop_start()
    try:
        deadline = time.monotonic() + wait_s
        if not subscribed.wait(wait_s) or errors:
            raise FleetError(errors[0] if errors else f"no answer from the broker at {host}:{port} within {wait_s:.0f} s")
        while time.monotonic() < deadline and time.monotonic() - last_message[0] < quiet_s:
            time.sleep(0.05)
    finally:
        client.disconnect()
        client.loop_stop()
    return snapshot


def _clock(t: float | None) -> str:
    if not t:
        return "-"
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def _alarms(active: list[dict] | None) -> str:
    if active is None:
        return "-"
    if not active:
        return "none"
    critical = [a["code"] for a in active if a.get("severity") == "critical"]
    others = [a["code"] for a in active if a.get("severity") != "critical"]
    return ",".join([f"{c}!" for c in critical] + others)


def fleet_table(snapshot: FleetSnapshot) -> list[str]:
    """The fleet as a text table, one station a line, sorted by path."""
    header = ("station", "state", "since (UTC)", "parts", "passed", "rejected", "fail-safe", "reject rate", "last part (UTC)", "backlog",
              "alarms")
    rows = []
    for path in sorted(snapshot.stations):
        view = snapshot.stations[path]
        state = view.state or {}
        kpi = view.kpi or {}
        total = kpi.get("total") or {}
        rows.append((
            path, state.get("state", "?"), _clock(state.get("t")), str(total.get("inspected", "-")), str(total.get("passed", "-")),
            str(total.get("rejected", "-")), str(total.get("failsafe", "-")), _percent(total.get("reject_rate")),
            _clock(kpi.get("last_part_t")), str(kpi.get("outbox_backlog", "-")), _alarms(kpi.get("active_alarms")),
        ))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in [header, *rows]]
    if not rows:
        lines.append("(no station has published here)")
    return lines
