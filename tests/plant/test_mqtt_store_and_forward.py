"""Store-and-forward to a real Mosquitto: nothing decided is lost while the broker or the publisher is away."""

from __future__ import annotations

from collections import defaultdict

import pytest

from inspector.plant.namespace import outbox_path, topic_root
from tests.helpers import wait_until
from tests.plant.conftest import station_config
from tests.plant.plant_clients import DecisionSource, Subscriber, outbox_count, validate
from tests.plant.scenario import log_counters, run_scenario

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
    publisher = publishers(config, tmp_path / "st")
    try:
        out = run_scenario(config, broker, publisher, wait_until, parts=PARTS, batch=BATCH, restarts=2, mid_flow=True)
    finally:
        assert publisher.stop() == 0
    assert broker.restarts == 2
    received = out.received
    assert first_copies_in_order(received) == {"cell-7/top": list(range(1, out.written + 1))}, \
        "every part exactly once after de-duplication, in decision order"
    assert out.written >= PARTS
    counters = log_counters(publisher.log)
    assert counters["disconnects"] == 2 and counters["connects"] == 3, counters
    assert counters["messages_acknowledged"] >= out.written
    assert counters["messages_sent"] >= counters["messages_acknowledged"]  # more when a stop caught messages in flight
    for payload in received[:: max(1, len(received) // 500)] + received[-5:]:
        validate(payload)
    assert {p["path"] for p in received} == {"acme/plant1/machining/line4/cell-7"}
    assert received[0]["model_version"] == "model-v7" and received[0]["result"] == "PASS"


def test_what_the_outbox_holds_survives_a_killed_publisher(tmp_path, broker, publishers):
    config = station_config(tmp_path / "st", "cell-8", broker)
    root = topic_root(config)
    subscriber = Subscriber(broker.port, f"{root}/parts/#", client_id="restart-subscriber")
    source = DecisionSource(config)
    publisher = publishers(config, tmp_path / "st")
    try:
        broker.stop()
        publisher.start()
        source.write(300)
        wait_until(lambda: outbox_count(outbox_path(config)) == 300, 60, "300 messages in the outbox")
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
