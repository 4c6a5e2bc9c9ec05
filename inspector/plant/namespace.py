"""The station's place in the unified namespace: ISA-95 topics and the JSON payloads published on them.

Topics (``<root>`` = ``<enterprise>/<site>/<area>/<line>/<cell>``):

| topic | retained | payload schema |
|---|---|---|
| ``<root>/state`` | yes | ``inspector.station_state`` (birth ``online``; death ``offline`` by last will) |
| ``<root>/parts/<camera>`` | no | ``inspector.part_result``, one per decided part |
| ``<root>/alarms`` | no | ``inspector.alarm``, every alarm raised or cleared |
| ``<root>/kpi`` | yes | ``inspector.kpi``, every ``kpi_interval_s``: the parts of the last ``kpi_window_s`` and the
  running totals of the parts this station has published |

Every payload names its JSON Schema (``schema``) and that schema's version
(``schema_version``); the schemas ship in ``inspector/plant/schemas``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from inspector.config.schema import Config

SCHEMA_DIR = Path(__file__).with_name("schemas")
SCHEMA_VERSION = 1
SCHEMAS = ("part_result", "alarm", "station_state", "kpi")


def schema_path(name: str) -> Path:
    return SCHEMA_DIR / f"{name}.schema.json"


def topic_root(config: Config) -> str:
    """``<enterprise>/<site>/<area>/<line>/<cell>``; the cell is the station's name unless configured."""
    topic = config.plant.mqtt.topic
    return "/".join([topic.enterprise, topic.site, topic.area, topic.line, topic.cell or config.station.name])


def client_id(config: Config) -> str:
    return config.plant.mqtt.client_id or f"inspector-{config.station.name}"


def outbox_path(config: Config) -> Path:
    return Path(config.plant.mqtt.outbox.path or Path(config.station.state_dir) / "mqtt-outbox.db")


def state_topic(root: str) -> str:
    return f"{root}/state"


def part_topic(root: str, camera: str) -> str:
    return f"{root}/parts/{camera}"


def alarm_topic(root: str) -> str:
    return f"{root}/alarms"


def kpi_topic(root: str) -> str:
    return f"{root}/kpi"


def _payload(schema: str, body: dict[str, Any]) -> bytes:
    return json.dumps({"schema": f"inspector.{schema}", "schema_version": SCHEMA_VERSION, **body}, separators=(",", ":")).encode()


def _json_or(value: str | None, empty: Any) -> Any:
    if not value:
        return empty
    try:
        return json.loads(value)
    except ValueError:
        return empty


def part_payload(row: dict[str, Any], root: str) -> bytes:
    """One decided part, from its row in the recorder's database."""
    return _payload("part_result", {
        "path": root,
        "station": row["station"],
        "camera": row["camera"],
        "part_id": row["part_id"],
        "result": row["result"],
        "decided_by": row["source"],
        "t_trigger": row["t_trigger"],
        "t_decided": row["t_decided"],
        "latency_ms": row["latency_ms"],
        "plc_delivered": bool(row["plc_delivered"]),
        "model_version": row["model_version"],
        "detections": _json_or(row["detections"], []),
        "timings_ms": _json_or(row["timings_ms"], {}),
        "reason": row["reason"] or "",
    })


def alarm_payload(row: dict[str, Any], root: str) -> bytes:
    return _payload("alarm", {
        "path": root,
        "alarm_id": row["id"],
        "station": row["station"],
        "source": row["source"],
        "code": row["code"],
        "severity": row["severity"],
        "text": row["text"],
        "t": row["t"],
        "active": bool(row["active"]),
        "part_id": row["part_id"],
    })


def state_payload(root: str, station: str, state: str, t: float) -> bytes:
    return _payload("station_state", {"path": root, "station": station, "state": state, "t": t})


def kpi_payload(root: str, station: str, t: float, window_s: float, window: dict[str, int], total: dict[str, int],
                last_part_t: float | None, backlog: int, active_alarms: list[dict[str, Any]] | None = None) -> bytes:
    def rates(counts: dict[str, int]) -> dict[str, Any]:
        n = counts["inspected"]
        return {**counts, "reject_rate": (counts["rejected"] + counts["failsafe"]) / n if n else None}

    return _payload("kpi", {
        "path": root, "station": station, "t": t, "window_s": window_s,
        "window": rates(window), "total": rates(total), "last_part_t": last_part_t, "outbox_backlog": backlog,
        "active_alarms": [{k: a[k] for k in ("source", "code", "severity", "text", "t")} for a in active_alarms or []],
    })
