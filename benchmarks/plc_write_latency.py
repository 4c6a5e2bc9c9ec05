"""Decision-to-PLC-write latency, beside a bare pycomm3 write of the same tags, in one run.

Both write part id, result and sequence (a decision's write) to the cpppo Logix
simulator on loopback, in alternating blocks so drift affects both alike:

- bare: ``LogixDriver.write`` of the three tags, timed around the call;
- Inspector: a decision submitted to the actuator's delivery thread, timed
  from the decision (``t_decided``) to the PLC's confirmation (``t_plc_written``).

    .venv/bin/python benchmarks/plc_write_latency.py --writes 600
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import zmq


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inspector.bench.stats import percentiles  # noqa: E402
from inspector.bench.machine import machine_record, write_result_files  # noqa: E402
from inspector.actuator.delivery import DecisionDelivery  # noqa: E402
from inspector.config import DEFAULT_CONFIG, load_config  # noqa: E402
from inspector.line_setup import local_line_config  # noqa: E402
from inspector.messages import Decision  # noqa: E402
from inspector.transport import recv_message  # noqa: E402
from inspector.channels import LineSockets  # noqa: E402
from inspector.line_keys import init_keys  # noqa: E402
from plc_io.logix import open_driver  # noqa: E402
from plc_io.simulator import PlcSimulator  # noqa: E402

BLOCK = 50
GAP_S = 0.02  # between decisions: measure the write, not a queue


def bare_block(driver, tags, start: int) -> list[float]:
    times = []
    for i in range(start, start + BLOCK):
        t0 = time.perf_counter()
        replies = driver.write((tags.part_id.name, i), (tags.result.name, 1), (tags.sequence.name, i))
        times.append((time.perf_counter() - t0) * 1000)
        assert not any(r.error for r in replies), replies
        time.sleep(GAP_S)
    return times


def inspector_block(delivery: DecisionDelivery, recorder: zmq.Socket, start: int) -> list[float]:
    times = []
    for i in range(start, start + BLOCK):
        now = time.time()
        delivery.submit(Decision("bench", "top", i, 0, "PASS", "verdict", now, now, False))
        while True:
            message = recv_message(recorder)
            if isinstance(message, Decision):
                break
        assert message.plc_delivered, message.plc_error
        times.append((message.t_plc_written - message.t_decided) * 1000)
        time.sleep(GAP_S)
    return times


def run(writes: int, workdir: Path) -> dict:
    config = local_line_config(load_config(DEFAULT_CONFIG), workdir)
    config = dataclasses.replace(config, plc=dataclasses.replace(config.plc, heartbeat_period_s=60))  # keep heartbeats out of the way
    init_keys(Path(config.security.keys_dir))
    recorder_end = LineSockets(config, "recorder")
    actuator_end = LineSockets(config, "actuator")
    recorder = recorder_end.open("decisions")
    bare, inspector = [], []
    with PlcSimulator(config.plc):
        driver = open_driver(config.plc)
        delivery = DecisionDelivery.for_station(config, actuator_end)
        delivery.start()
        try:
            for block in range(writes // (2 * BLOCK)):
                bare += bare_block(driver, config.plc.tags, block * BLOCK + 1)
                inspector += inspector_block(delivery, recorder, block * BLOCK + 1)
        finally:
            delivery.close()
            driver.close()
            recorder.close(0)
            for end in (recorder_end, actuator_end):
                end.close()
                end.ctx.term()
    return {
        "writes_each": len(bare),
        "bare_pycomm3_write_ms": percentiles(bare),
        "inspector_decision_to_plc_write_ms": percentiles(inspector),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writes", type=int, default=600, help="total writes, half bare and half through Inspector")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "plc_write_latency")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="inspector-bench-") as tmp:
        result = run(args.writes, Path(tmp))
    record = machine_record()
    rows = [
        "# PLC write latency: Inspector's decision delivery beside a bare pycomm3 write",
        "",
        f"- date: {record['date']}; commit {record['commit']}",
        f"- machine: {record['cpu']}, {record['cores']} cores; Python {record['python']}",
        f"- command: `{record['command']}`",
        f"- PLC: cpppo Logix simulator on loopback; 4 DINT tags per write; {result['writes_each']} writes each, alternating blocks of {BLOCK}",
        "",
        "| path | p50 ms | p90 ms | p99 ms | max ms |",
        "|---|---|---|---|---|",
    ]
    for name, key in (("bare pycomm3 `LogixDriver.write`", "bare_pycomm3_write_ms"), ("Inspector decision → PLC confirmed", "inspector_decision_to_plc_write_ms")):
        p = result[key]
        rows.append(f"| {name} | {p['p50']} | {p['p90']} | {p['p99']} | {p['max']} |")
    write_result_files(args.out, {"machine": record, **result}, "\n".join(rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
