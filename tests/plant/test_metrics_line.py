"""Prometheus metrics scraped over HTTP from the services of a real line, against what the recorder recorded."""

from __future__ import annotations

import dataclasses

import pytest

from inspector.line_runner import part_rows, running_line
from inspector.plant.metrics import all_metrics_ports
from tests.helpers import wait_until
from tests.plant.scrape import free_base_port, scrape, total

pytestmark = pytest.mark.slow


def test_every_service_serves_metrics_and_the_recorders_counts_match_its_rows(line_config, tmp_path):
    config = line_config(parts=20, rate_hz=10)
    metrics = dataclasses.replace(config.plant.metrics, enabled=True, base_port=free_base_port())
    config = dataclasses.replace(config, plant=dataclasses.replace(config.plant, metrics=metrics))
    ports = all_metrics_ports(config)
    assert set(ports) == {"actuator", "recorder", "supervisor", "detector:0", "camera:top"}
    with running_line(config, tmp_path):
        rows = wait_until(lambda: len(part_rows(config)) >= 20 and part_rows(config), 120, "20 decided parts")
        recorder = wait_until(lambda: (s := scrape(ports["recorder"])) and total(s, "inspector_parts_total") >= 20 and s, 30,
                              "the recorder's metrics to count 20 parts")
        actuator = scrape(ports["actuator"])
        detector = scrape(ports["detector:0"])
        camera = scrape(ports["camera:top"])
        supervisor = scrape(ports["supervisor"])

    by_result: dict[str, int] = {}
    for r in rows:
        by_result[r["result"]] = by_result.get(r["result"], 0) + 1
    model = rows[0]["model_version"]
    assert model and {r["model_version"] for r in rows} == {model}
    assert total(recorder, "inspector_parts_total") == 20
    for result, n in by_result.items():
        assert total(recorder, "inspector_parts_total", result=result, model_version=model, camera="top") == n
    assert total(recorder, "inspector_failsafe_decisions_total") == sum(n for k, n in by_result.items() if k.startswith("FAILSAFE"))
    delivered = sum(1 for r in rows if r["t_plc_written"])
    assert total(recorder, "inspector_trigger_to_plc_seconds_count", model_version=model) == delivered
    assert total(recorder, "inspector_stage_seconds_count", stage="inference", model_version=model) == 20
    assert total(recorder, "inspector_model_info", model_version=model, camera="top") == 1

    # every service's own counters, as its heartbeats carry them
    assert total(actuator, "inspector_service_events_total", service="actuator", event="decisions") == 20
    assert total(actuator, "inspector_service_events_total", service="actuator", event="plc_written") == delivered
    assert total(camera, "inspector_service_events_total", service="camera:top", event="triggered") == 20
    assert total(detector, "inspector_service_running", service="detector:0") == 1
    assert total(supervisor, "inspector_service_up", service="actuator") == 1
    assert total(supervisor, "inspector_service_restarts_total", service="recorder") == 0


def test_a_taken_metrics_port_stops_the_line_at_start_naming_the_setting(line_config, tmp_path):
    import socket

    from inspector.errors import ServiceError

    config = line_config(parts=5, rate_hz=10)
    metrics = dataclasses.replace(config.plant.metrics, enabled=True, base_port=free_base_port())
    config = dataclasses.replace(config, plant=dataclasses.replace(config.plant, metrics=metrics))
    holder = socket.socket()
    holder.bind(("127.0.0.1", metrics.base_port + 1))  # the recorder's port
    holder.listen(1)
    try:
        with pytest.raises(ServiceError, match=r"plant\.metrics\.base_port: port \d+ \(the recorder metrics endpoint\) is already in use"), \
                running_line(config, tmp_path):
            pass
    finally:
        holder.close()
