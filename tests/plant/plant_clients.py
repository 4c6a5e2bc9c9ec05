"""What the tests use to play the plant: a persistent MQTT subscriber, a fast synthetic source of decisions."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import jsonschema
import paho.mqtt.client as mqtt

from inspector.config.schema import Config
from inspector.messages import Decision, Verdict
from inspector.plant.namespace import SCHEMAS, schema_path
from inspector.records.store import Store, decision_row

VALIDATORS = {f"inspector.{name}": jsonschema.Draft202012Validator(json.loads(schema_path(name).read_text())) for name in SCHEMAS}


def validate(payload: dict) -> None:
    """Check a payload against the JSON Schema it names (raises jsonschema.ValidationError)."""
    VALIDATORS[payload["schema"]].validate(payload)


class Subscriber:
    """A plant client with a persistent session (QoS 1): it gets what was published while it or the broker was away."""

    def __init__(self, port: int, topic: str, client_id: str = "plant-test-subscriber") -> None:
        self.messages: list[tuple[str, dict, bool]] = []
        self.lock = threading.Lock()
        self.trigger: tuple[int, Callable[[], None]] | None = None  # (part id, what to do the moment it arrives)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False, protocol=mqtt.MQTTv311)
        self.client.reconnect_delay_set(0.1, 0.5)
        self.topic = topic
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(self.topic, qos=1)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=5)
        self.client.loop_start()

    def _on_message(self, client, userdata, msg) -> None:
        payload = json.loads(msg.payload)
        with self.lock:
            self.messages.append((msg.topic, payload, bool(msg.retain)))
        if self.trigger is not None and payload.get("part_id") == self.trigger[0]:
            action, self.trigger = self.trigger[1], None
            action()

    def payloads(self, schema: str | None = None) -> list[dict]:
        with self.lock:
            return [p for _, p, _ in self.messages if schema is None or p["schema"] == schema]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class DecisionSource:
    """Decisions written into the station's real recorder store, as the recorder writes them."""

    def __init__(self, config: Config, camera: str = "top") -> None:
        self.config = config
        self.camera = camera
        self.store = Store(config.recorder.database, config.recorder.image_dir)
        self.next_part = 1

    def write(self, count: int, result: str = "PASS") -> list[int]:
        now = time.time()
        rows, ids = [], []
        for _ in range(count):
            part_id = self.next_part
            self.next_part += 1
            verdict = Verdict(self.config.station.name, self.camera, part_id, part_id, result if result in ("PASS", "REJECT") else "REJECT",
                              now, now + 0.03, "model-v7", [], {"preprocess": 0.3, "inference": 30.0, "postprocess": 0.5})
            decision = Decision(self.config.station.name, self.camera, part_id, part_id, result, "verdict", now, now + 0.031,
                                True, now + 0.05, "", verdict, now + 0.04, part_id)
            rows.append(decision_row(decision))
            ids.append(part_id)
        self.store.record(rows)
        return ids

    def close(self) -> None:
        self.store.close()


def outbox_count(path: str | Path, topic_like: str = "%") -> int:
    """Messages waiting in a publisher's outbox (on topics matching the SQL LIKE pattern)."""
    import sqlite3

    if not Path(path).exists():
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute("SELECT count(*) FROM messages WHERE topic LIKE ?", (topic_like,)).fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()
