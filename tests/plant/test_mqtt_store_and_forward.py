"""Store-and-forward to a real Mosquitto: nothing decided is lost while the broker or the publisher is away."""

from __future__ import annotations

from collections import defaultdict

import pytest

from inspector.plant.namespace import topic_root
from tests.helpers import wait_until
from tests.plant.conftest import station_config
from tests.plant.plant_clients import DecisionSource, Subscriber, outbox_count, validate

pytestmark = pytest.mark.slow

PARTS = 10_000
BATCH = 250


def first_copies_in_order(payloads: list[dict]) -> dict[str, list[int]]:
    """Part ids per station and camera, in arrival order, each part's first copy only (de-duplication by part id)."""
    seen: set[tuple[str, str, int]] = set()
    order: dict[str, list[int]] = defaultdict(list)
    for p in payloads:
        key = (p["station"], p["camera"], p["part_id"])
        if key not in seen:
            seen.add(key)
            order[f"{p['station']}/{p['camera']}"].append(p["part_id"])
    return order


def test_ten_thousand_parts_arrive_once_each_and_in_order_across_two_broker_restarts(tmp_path, broker, publishers):
    config = station_config(tmp_path / "st", "cell-7", broker)
    root = topic_root(config.plant.mqtt.topic)
    subscriber = Subscriber(broker.port, f"{root}/parts/#")
    source = DecisionSource(config)
    publisher = publishers(config, tmp_path / "st")
    publisher.start()
    try:
        written = 0
        while written < PARTS:
            source.write(BATCH)
            written += BATCH
            if written in (3_000, 6_500):
                broker.stop()  # the broker goes away with messages in flight; the line goes on deciding
                for _ in range(4):
                    source.write(BATCH)
                    written += BATCH
                wait_until(lambda: outbox_count(config.plant.mqtt.outbox.path) >= 4 * BATCH, 60,
                           "the parts decided while the broker is down to wait in the outbox")
                broker.start()
        received = wait_until(lambda: len(first_copies_in_order(subscriber.payloads())["cell-7/top"]) >= PARTS and subscriber.payloads(),
                              300, f"{PARTS} distinct parts at the subscriber")
        wait_until(lambda: outbox_count(config.plant.mqtt.outbox.path) == 0, 60, "the outbox to empty (every message acknowledged)")
    finally:
        subscriber.close()
        source.close()
        assert publisher.stop() == 0
    order = first_copies_in_order(received)
    assert order["cell-7/top"] == list(range(1, PARTS + 1)), "every part exactly once after de-duplication, in order"
    assert len(received) >= PARTS  # at least once: a message whose PUBACK the restart lost is sent again
    for payload in received[:: max(1, len(received) // 500)] + received[-5:]:
        validate(payload)
    assert {p["path"] for p in received} == {"acme/plant1/machining/line4/cell-7"}
    assert received[0]["model_version"] == "model-v7" and received[0]["result"] == "PASS"


def test_what_the_outbox_holds_survives_a_killed_publisher(tmp_path, broker, publishers):
    config = station_config(tmp_path / "st", "cell-8", broker)
    root = topic_root(config.plant.mqtt.topic)
    subscriber = Subscriber(broker.port, f"{root}/parts/#", client_id="restart-subscriber")
    source = DecisionSource(config)
    publisher = publishers(config, tmp_path / "st")
    try:
        broker.stop()
        publisher.start()
        source.write(300)
        wait_until(lambda: outbox_count(config.plant.mqtt.outbox.path) == 300, 60, "300 messages in the outbox")
        publisher.kill()  # SIGKILL: no chance to flush anything
        source.write(200)  # decided while no publisher runs: they wait in the recorder's database
        broker.start()
        publisher.start()
        received = wait_until(lambda: len(first_copies_in_order(subscriber.payloads()).get("cell-8/top", [])) >= 500 and subscriber.payloads(),
                              120, "500 distinct parts at the subscriber")
    finally:
        subscriber.close()
        source.close()
        publisher.stop()
    assert first_copies_in_order(received)["cell-8/top"] == list(range(1, 501))
