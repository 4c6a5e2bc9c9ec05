"""A real line with the publisher on: what the recorder records reaches the broker, and a missing broker is an alarm, not a loss."""

from __future__ import annotations

import dataclasses

import pytest

from inspector.line_runner import alarm_rows, part_rows, running_line
from inspector.messages import Alarm
from inspector.plant.metrics import metrics_port
from inspector.plant.namespace import outbox_path, topic_root
from inspector.transport import recv_message
from tests.helpers import PeerSockets, wait_until
from tests.plant.conftest import station_config
from tests.plant.plant_clients import DecisionSource, Subscriber, outbox_count, validate
from tests.plant.scrape import free_base_port, scrape, total

pytestmark = pytest.mark.slow


def next_alarm(sock, code: str, timeout_ms: int = 60_000) -> Alarm | None:
    """The next alarm of this code on the actuator's alarm channel (others, like the broker's, are passed over)."""
    while sock.poll(timeout_ms):
        message = recv_message(sock)
        if isinstance(message, Alarm) and message.code == code:
            return message
    return None


def with_mqtt(config, broker):
    mqtt = dataclasses.replace(
        config.plant.mqtt, enabled=True, port=broker.port, kpi_interval_s=0.5, reconnect_backoff_max_s=0.5,
        topic=dataclasses.replace(config.plant.mqtt.topic, cell="line-test-cell"),
    )
    return dataclasses.replace(config, plant=dataclasses.replace(config.plant, mqtt=mqtt))


def test_the_line_publishes_every_recorded_part_and_waits_out_a_missing_broker_with_an_alarm(line_config, tmp_path, broker):
    config = with_mqtt(line_config(parts=30, rate_hz=10), broker)
    metrics = dataclasses.replace(config.plant.metrics, enabled=True, base_port=free_base_port())
    config = dataclasses.replace(config, plant=dataclasses.replace(config.plant, metrics=metrics))
    root = topic_root(config)
    watcher = Subscriber(broker.port, f"{root}/#", client_id="line-watcher")
    try:
        broker.stop()  # the plant's broker is away when the line starts
        with running_line(config, tmp_path) as supervisor:
            assert any(p.name == "publisher" for p in supervisor.processes)
            rows = wait_until(lambda: len(part_rows(config)) >= 30 and part_rows(config), 120, "30 decided parts")
            wait_until(lambda: any(a["code"] == "mqtt_broker_unreachable" and a["active"] for a in alarm_rows(config)), 60,
                       "the publisher's alarm, recorded through the actuator")
            wait_until(lambda: outbox_count(outbox_path(config), "%/parts/%") == 30, 30, "the 30 parts waiting in the outbox")
            broker.start()
            received = wait_until(lambda: len({p["part_id"] for p in watcher.payloads("inspector.part_result")}) >= 30
                                  and watcher.payloads("inspector.part_result"), 60, "30 parts at the broker")
            wait_until(lambda: any(a["code"] == "mqtt_broker_unreachable" and not a["active"] for a in alarm_rows(config)), 60,
                       "the alarm cleared")
            alarms = wait_until(lambda: [p for p in watcher.payloads("inspector.alarm") if p["code"] == "mqtt_broker_unreachable"], 30,
                                "the alarm itself published")
            assert supervisor.process("publisher").restarts == 0
            published = wait_until(lambda: (m := scrape(metrics_port(config, "publisher")))
                                   and total(m, "inspector_service_events_total", event="messages_acknowledged") >= 30 and m, 30,
                                   "the publisher's metrics to count the acknowledged messages")
        states = wait_until(lambda: (s := watcher.payloads("inspector.station_state")) and s[-1]["state"] == "offline" and s, 30,
                            "the publisher's 'offline' at the line's clean stop")
    finally:
        watcher.close()
    by_part = {p["part_id"]: p for p in received}
    assert sorted(by_part) == [r["part_id"] for r in rows]
    for r in rows:
        p = by_part[r["part_id"]]
        validate(p)
        assert (p["result"], p["model_version"], p["camera"]) == (r["result"], r["model_version"], r["camera"])
    validate(alarms[0])
    assert total(published, "inspector_service_events_total", event="connects") == 1
    assert total(published, "inspector_service_events_total", event="connect_failures") >= 1
    assert states[0]["state"] == "online", "birth when connected"


def test_a_full_outbox_holds_newer_parts_back_with_an_alarm_and_loses_none(tmp_path, broker, publishers):
    config = station_config(tmp_path / "st", "cell-9", broker, outbox={"max_messages": 10})
    peers = PeerSockets(config)
    alarms_in = peers.open("actuator", "alarms")  # the test stands in for the actuator, which shows and records alarms
    subscriber = Subscriber(broker.port, f"{topic_root(config)}/parts/#", client_id="full-subscriber")
    source = DecisionSource(config)
    publisher = publishers(config, tmp_path / "st")
    try:
        broker.stop()
        publisher.start()
        source.write(35)
        raised = next_alarm(alarms_in, "mqtt_outbox_full")
        assert raised is not None and raised.active
        assert "wait in the station's database" in raised.text
        assert outbox_count(outbox_path(config)) == 10
        broker.start()
        received = wait_until(lambda: len({p["part_id"] for p in subscriber.payloads()}) >= 35 and subscriber.payloads(), 60,
                              "all 35 parts at the subscriber")
        cleared = next_alarm(alarms_in, "mqtt_outbox_full")
        assert cleared is not None and not cleared.active, "the alarm is cleared once the outbox has room"
    finally:
        subscriber.close()
        source.close()
        publisher.stop()
        peers.close()
    first_copies = []
    for p in received:
        if p["part_id"] not in first_copies:
            first_copies.append(p["part_id"])
    assert first_copies == list(range(1, 36))


def test_a_broker_that_never_answers_costs_the_line_nothing(line_config, tmp_path):
    """A listener that takes the TCP connection and never answers MQTT (a hung broker, a proxy with nothing behind)."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # the kernel completes the handshakes; nobody ever reads or answers
    config = line_config(parts=20, rate_hz=10)
    mqtt = dataclasses.replace(config.plant.mqtt, enabled=True, port=silent.getsockname()[1], reconnect_backoff_max_s=0.5)
    config = dataclasses.replace(config, plant=dataclasses.replace(config.plant, mqtt=mqtt))
    try:
        with running_line(config, tmp_path) as supervisor:
            rows = wait_until(lambda: len(part_rows(config)) >= 20 and part_rows(config), 120, "20 decided parts")
            wait_until(lambda: any(a["code"] == "mqtt_broker_unreachable" for a in alarm_rows(config)), 60, "the broker alarm")
            publisher = supervisor.process("publisher")
            assert publisher.restarts == 0 and publisher.running, "waiting for the broker never made the publisher silent"
            assert outbox_count(outbox_path(config), "%/parts/%") == 20
    finally:
        silent.close()
    assert all(r["plc_delivered"] == 1 and r["source"] == "verdict" for r in rows)
