"""The store-and-forward scenario the test and the figures share.

A synthetic source writes decisions into the station's real recorder store;
the publisher runs as its own process; a persistent QoS 1 subscriber counts
what arrives. The source keeps pace with the subscriber (at most two batches
ahead), so the broker's stops fall in the middle of a flow of messages: at
each restart point one more batch is written and the broker is stopped at
once (SIGTERM) with messages in flight, four more batches are decided while it
is down, and it is started again once those wait in the outbox.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from inspector.config.schema import Config
from inspector.plant.namespace import outbox_path, topic_root
from tests.plant.conftest import PublisherProcess
from inspector.bench.mosquitto import LocalBroker
from tests.plant.plant_clients import DecisionSource, Subscriber, outbox_count

Wait = Callable[[Callable[[], object], float, str], object]


@dataclass
class Outcome:
    written: int = 0
    received: list[dict] = field(default_factory=list)
    in_flight_at_stop: list[int] = field(default_factory=list)  # parts written but not yet at the subscriber when the broker stopped
    backlog_max: int = 0
    broker_down_s: float = 0.0
    elapsed_s: float = 0.0


def distinct_parts(payloads: list[dict]) -> list[int]:
    """Part ids in arrival order, each part's first copy only (de-duplication by part id)."""
    seen: set[int] = set()
    order = []
    for p in payloads:
        if p["part_id"] not in seen:
            seen.add(p["part_id"])
            order.append(p["part_id"])
    return order


def run_scenario(config: Config, broker: LocalBroker, publisher: PublisherProcess, wait: Wait, parts: int = 10_000,
                 batch: int = 250, restarts: int = 2, mid_flow: bool = False) -> Outcome:
    """``mid_flow``: stop the broker (SIGTERM) the moment the first part of the last batch reaches the subscriber,
    while the rest of the batch is on its way, rather than right after writing it."""
    outbox = outbox_path(config)
    root = topic_root(config)
    subscriber = Subscriber(broker.port, f"{root}/#")
    source = DecisionSource(config)
    out = Outcome()
    restart_points = [parts * (i + 1) // (restarts + 1) for i in range(restarts)]

    def parts_received() -> list[dict]:
        return [p for p in subscriber.payloads() if p["schema"] == "inspector.part_result"]

    try:
        publisher.start()
        wait(lambda: any(p["schema"] == "inspector.station_state" and p["state"] == "online" for p in subscriber.payloads()),
             60, "the publisher's birth message")
        started = time.monotonic()
        while out.written < parts:
            stopping = bool(restart_points) and out.written + batch >= restart_points[0]
            if stopping and mid_flow:
                process = broker.process
                subscriber.trigger = (out.written + 1, lambda p=process: p.send_signal(signal.SIGTERM))
            source.write(batch)
            out.written += batch
            if stopping:
                restart_points.pop(0)
                if mid_flow:
                    wait(lambda: broker.process.poll() is not None, 120, "the broker to stop in the middle of a batch")
                t_down = time.monotonic()
                broker.stop()
                out.in_flight_at_stop.append(out.written - len(distinct_parts(parts_received())))
                for _ in range(4):
                    source.write(batch)
                    out.written += batch
                wait(lambda: outbox_count(outbox) >= 4 * batch, 60, "the parts decided while the broker is down to wait in the outbox")
                out.backlog_max = max(out.backlog_max, outbox_count(outbox))
                broker.start()
                broker.restarts += 1
                out.broker_down_s += time.monotonic() - t_down
            else:
                target = out.written - 2 * batch
                wait(lambda t=target: len(distinct_parts(parts_received())) >= t, 120, f"{target} parts at the subscriber")
        wait(lambda: len(distinct_parts(parts_received())) >= out.written, 300, f"{out.written} distinct parts at the subscriber")
        out.elapsed_s = time.monotonic() - started
        wait(lambda: outbox_count(outbox) == 0, 60, "the outbox to empty (every message acknowledged)")
        out.received = parts_received()
        return out
    finally:
        subscriber.close()
        source.close()


def log_counters(log: Path) -> dict[str, int]:
    """The publisher's counters, from the line it logs when it stops."""
    import ast

    counters: dict[str, int] = {}
    for line in log.read_text().splitlines():
        if "stopping; counters:" in line:
            counters = ast.literal_eval(line.split("counters:", 1)[1].strip())
    return counters
