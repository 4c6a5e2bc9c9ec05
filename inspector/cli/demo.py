"""``inspector demo``: the whole line on one machine, on its embedded defaults."""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import TextIO

import zmq

from hmi.cli import start_hmi_process, stop_hmi, wait_for_hmi
from inspector.config import load_config, write_config
from inspector.errors import InspectorError
from inspector.line_setup import local_line_config
from inspector.line_runner import decided_count
from inspector.line_summary import LineSummary, summarize
from inspector.messages import Decision
from inspector.supervisor import Supervisor
from inspector.channels import LineSockets
from inspector.line_keys import init_keys
from inspector.transport import recv_message
from plc_io.logix import RESULT_CODES, read_result_tags

STALL_TIMEOUT_S = 60.0


class LiveStatus:
    """The one-line status the demo keeps rewriting."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.counts: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.started = time.monotonic()

    def add(self, decision: Decision) -> None:
        self.counts[decision.result] += 1
        if decision.latency_ms is not None:
            self.latencies.append(decision.latency_ms)

    def show(self, restarts: int) -> None:
        recent = sorted(self.latencies[-200:])
        p50 = recent[len(recent) // 2] if recent else math.nan
        c = self.counts
        self.out.write(
            f"\r[{time.monotonic() - self.started:6.1f}s] parts {sum(c.values()):5d} | pass {c['PASS']:5d} "
            f"reject {c['REJECT']:5d} fail-safe {c['FAILSAFE_REJECT'] + c['FAILSAFE_PASS']:3d} | "
            f"latency p50 {p50:5.1f} ms | restarts {restarts}   "
        )
        self.out.flush()


def run_demo(
    config_path: Path, data_root: Path, parts: int, rate_hz: float | None, out: TextIO = sys.stdout, hmi: bool = False
) -> int:
    """Run the line; with ``hmi`` (a display is present) the HMI opens beside it and stays after it stops."""
    data_dir = data_root / time.strftime("run-%Y%m%d-%H%M%S")
    config = local_line_config(load_config(config_path), data_dir, parts=parts, rate_hz=rate_hz)
    station_file = data_dir / "station.yaml"
    write_config(config, station_file)
    database = Path(config.recorder.database)
    out.write(f"Inspector demo: station config {station_file}, logs in {data_dir / 'logs'}\n")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    init_keys(Path(config.security.keys_dir))  # the demo's own station: its line keys made as at install
    supervisor = Supervisor(config, station_file, data_dir / "logs")
    ctx = zmq.Context()
    observer = LineSockets(config, "observer", ctx)
    events = observer.open("events")
    status = LiveStatus(out)
    plc_tags: dict[str, int] | None = None
    hmi_process = None
    try:
        supervisor.start()
        hmi_process = start_hmi_process(station_file, data_dir / "logs") if hmi else None
        last_progress, last_count = time.monotonic(), 0
        while not stop.is_set():
            supervisor.check(0.2)
            while events.poll(0):
                message = recv_message(events)
                if isinstance(message, Decision):
                    status.add(message)
            status.show(sum(p.restarts for p in supervisor.processes))
            count = decided_count(config)
            if count != last_count:
                last_progress, last_count = time.monotonic(), count
            if parts and count >= parts:
                plc_tags = read_result_tags(config.plc)
                break
            if time.monotonic() - last_progress > STALL_TIMEOUT_S:
                raise InspectorError(f"no part decided for {STALL_TIMEOUT_S:.0f}s; see the logs in {data_dir / 'logs'}")
    finally:
        out.write("\n")
        events.close(0)
        observer.close()
        ctx.term()
        supervisor.shutdown()
        if hmi_process is not None and sys.exc_info()[0] is not None:
            stop_hmi(hmi_process)
    print_summary(summarize(database), plc_tags, out)
    if hmi_process is not None:
        wait_for_hmi(hmi_process, stop, out)
    return 0


def print_summary(summary: LineSummary, plc_tags: dict[str, int] | None, out: TextIO) -> None:
    lat = summary.latency
    r = summary.by_result
    lines = [
        "",
        "Summary",
        f"  parts inspected        {summary.parts}",
        f"  passed                 {r.get('PASS', 0)}",
        f"  rejected               {r.get('REJECT', 0)}",
        f"  fail-safe              {summary.failsafe}",
        f"  not delivered to PLC   {summary.plc_undelivered}",
        f"  trigger-to-PLC-write   p50 {lat.p50_ms:.1f} ms, p99 {lat.p99_ms:.1f} ms, max {lat.max_ms:.1f} ms ({lat.count} writes)",
        "  stage medians          " + ", ".join(f"{k} {v:.1f} ms" for k, v in summary.stages_p50_ms.items()),
    ]
    gt = summary.ground_truth
    if gt is not None:
        lines.append(
            f"  vs. ground truth       defective rejected {gt.defective_rejected}/{gt.defective} "
            f"({gt.reject_rate_defective:.1%}), good rejected {gt.good_rejected}/{gt.good} ({gt.reject_rate_good:.1%})"
        )
    if plc_tags is not None:
        names = {code: name for name, code in RESULT_CODES.items()}
        lines.append(
            f"  PLC tags now           part id {plc_tags['part_id']}, result {plc_tags['result']} "
            f"({names.get(plc_tags['result'], '?')}), sequence {plc_tags['sequence']}"
        )
    lines.append(f"  database               {summary.database}")
    out.write("\n".join(lines) + "\n")
