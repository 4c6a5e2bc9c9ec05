"""Store-and-forward figures: N parts published through the real publisher, outbox and Mosquitto, broker restarted twice.

A synthetic source writes decisions into the station's real recorder store in
batches; the publisher runs as its own process (``inspector service
publisher``); a persistent QoS 1 subscriber counts what arrives. The broker
is stopped twice mid-run (SIGTERM) while decisions keep coming, and started
again once they wait in the outbox. Writes
``benchmarks/results/mqtt_store_and_forward.md``.

    PYTHONPATH=. .venv/bin/python benchmarks/mqtt_store_and_forward.py --parts 10000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.plant.conftest import PublisherProcess, station_config
from inspector.bench.mosquitto import LocalBroker, mosquitto_binary
from tests.plant.scenario import distinct_parts, log_counters, run_scenario

RESULTS = Path(__file__).resolve().parent / "results" / "mqtt_store_and_forward.md"


def wait(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"timed out after {timeout_s:.0f} s waiting for {what}")


def run(parts: int, batch: int, workdir: Path) -> dict:
    broker = LocalBroker(workdir / "broker")
    broker.start()
    config = station_config(workdir / "st", "cell-7", broker)
    publisher = PublisherProcess(config, workdir / "st")
    try:
        out = run_scenario(config, broker, publisher, wait, parts=parts, batch=batch, restarts=2, mid_flow=True)
    finally:
        publisher.stop()
        broker.stop()
    order = distinct_parts(out.received)
    return {
        "parts": out.written, "received": len(out.received), "distinct": len(order), "duplicates": len(out.received) - len(order),
        "in_order": order == list(range(1, out.written + 1)), "missing": out.written - len(set(order) & set(range(1, out.written + 1))),
        "restarts": broker.restarts, "backlog_max": out.backlog_max, "elapsed_s": out.elapsed_s, "broker_down_s": out.broker_down_s,
        "in_flight": out.in_flight_at_stop, "counters": log_counters(workdir / "st" / "publisher.log"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs) for a look")
    args = parser.parse_args()
    if args.keep:
        tmp = tempfile.mkdtemp(prefix="mqtt-saf-")
        print(f"work folder: {tmp}")
        r = run(args.parts, args.batch, Path(tmp))
    else:
        with tempfile.TemporaryDirectory(prefix="mqtt-saf-") as tmp:
            r = run(args.parts, args.batch, Path(tmp))
    c = r["counters"]
    import subprocess

    repo = Path(__file__).resolve().parents[1]
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=repo, capture_output=True, text=True, check=False).stdout.strip()
    broker_version = subprocess.run([mosquitto_binary(), "-h"], capture_output=True, text=True, check=False).stdout.splitlines()[0]
    text = f"""# MQTT store-and-forward: {r['parts']:,} parts, broker restarted {r['restarts']} times

Command: `PYTHONPATH=. .venv/bin/python benchmarks/mqtt_store_and_forward.py --parts {args.parts} --batch {args.batch}`
({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {commit or '?'}, {broker_version}, the project's 2-core machine)
(the same scenario as `tests/plant/test_mqtt_store_and_forward.py`). Real publisher process, real SQLite
outbox, Mosquitto on loopback (persistence on, stopped with SIGTERM), a persistent QoS 1 subscriber;
decisions written by a synthetic source into the station's recorder store in batches of {args.batch};
the source keeps at most two batches ahead of the subscriber, and each stop (SIGTERM) comes the moment the first
part of a batch reaches the subscriber, with the rest of it on its way; each stop lasts while
{4 * args.batch} more parts are decided. The machine is shared with other work.

| figure | value |
|---|---|
| parts decided | {r['parts']:,} |
| messages received (with re-sent copies) | {r['received']:,} |
| distinct parts received | {r['distinct']:,} |
| parts missing | {r['missing']} |
| copies received twice (QoS 1 sent again across a restart: publisher to broker, or broker to subscriber) | {r['duplicates']} |
| distinct parts in decision order | {'yes' if r['in_order'] else 'NO'} |
| broker restarts | {r['restarts']} (parts decided, not yet at the subscriber, at each stop: {', '.join(map(str, r['in_flight']))}) |
| largest outbox backlog seen | {r['backlog_max']:,} messages |
| broker down, total | {r['broker_down_s']:.1f} s |
| first decision to last part at the subscriber | {r['elapsed_s']:.1f} s ({r['parts'] / r['elapsed_s']:,.0f} parts/s, a figure of this machine, not a limit) |
| publisher: connects / connection losses / connect attempts refused | {c.get('connects', 0)} / {c.get('disconnects', 0)} / {c.get('connect_failures', 0)} |
| publisher: messages sent (re-sends included) / acknowledged | {c.get('messages_sent', '?'):,} / {c.get('messages_acknowledged', '?'):,} |
"""
    args.out.write_text(text)
    print(text)
    return 0 if r["missing"] == 0 and r["in_order"] else 1


if __name__ == "__main__":
    sys.exit(main())
