"""Every MQTT payload matches the JSON Schema it names, including rows with empty fields."""

from __future__ import annotations

import json
import time

import jsonschema
import pytest

from inspector.plant import namespace as ns

VALIDATORS = {f"inspector.{n}": jsonschema.Draft202012Validator(json.loads(ns.schema_path(n).read_text())) for n in ns.SCHEMAS}
ROOT = "acme/berlin/machining/line4/press-3"


def check(payload: bytes) -> dict:
    data = json.loads(payload)
    assert data["schema_version"] == ns.SCHEMA_VERSION
    VALIDATORS[data["schema"]].validate(data)
    return data


def part_row(**overrides) -> dict:
    now = time.time()
    row = {"station": "press-3", "camera": "top", "part_id": 7, "result": "REJECT", "source": "verdict", "t_trigger": now,
           "t_decided": now + 0.05, "latency_ms": 61.5, "plc_delivered": 1, "model_version": "yolo-2026-11",
           "detections": json.dumps([{"cls": "scratch", "score": 0.9, "box": [1, 2, 3, 4], "causes_reject": True}]),
           "timings_ms": json.dumps({"inference": 31.0}), "reason": ""}
    return {**row, **overrides}


def test_a_part_result_carries_what_the_plant_needs():
    data = check(ns.part_payload(part_row(), ROOT))
    assert (data["path"], data["part_id"], data["result"], data["decided_by"]) == (ROOT, 7, "REJECT", "verdict")
    assert data["detections"][0]["cls"] == "scratch" and data["timings_ms"] == {"inference": 31.0}


@pytest.mark.parametrize("overrides", [
    {"result": "FAILSAFE_REJECT", "source": "deadline", "model_version": None, "detections": None, "timings_ms": None,
     "latency_ms": None, "reason": None},
    {"detections": "not json", "timings_ms": "{"},  # a damaged column never stops publishing
    {"plc_delivered": 0, "t_decided": None},
])
def test_a_part_without_a_verdict_or_with_damaged_columns_still_fits_its_schema(overrides):
    check(ns.part_payload(part_row(**overrides), ROOT))


def test_alarm_state_and_kpi_payloads_fit_their_schemas():
    check(ns.alarm_payload({"id": 3, "station": "press-3", "source": "publisher", "code": "mqtt_outbox_full", "severity": "warning",
                            "text": "full", "t": time.time(), "active": 1, "part_id": None}, ROOT))
    assert check(ns.state_payload(ROOT, "press-3", "offline", time.time()))["state"] == "offline"
    counts = {"inspected": 10, "passed": 7, "rejected": 2, "failsafe": 1}
    alarm = {"source": "camera", "code": "camera_lost", "severity": "critical", "text": "lost", "t": time.time(), "active": 1, "id": 4}
    kpi = check(ns.kpi_payload(ROOT, "press-3", time.time(), 3600.0, counts, counts, None, 0, [alarm]))
    assert kpi["active_alarms"][0]["code"] == "camera_lost"
    assert kpi["window"]["reject_rate"] == pytest.approx(0.3)
    empty = dict.fromkeys(counts, 0)
    assert check(ns.kpi_payload(ROOT, "press-3", time.time(), 3600.0, empty, empty, None, 5))["total"]["reject_rate"] is None
