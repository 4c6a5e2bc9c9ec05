"""Trigger-to-PLC-write latency of the whole line, on the embedded defaults.

Runs the real line (camera, detector, actuator, recorder as processes, the
cpppo PLC simulator over loopback) at a set part rate and reports latency
percentiles per hop, read back from the recorder's database. Results are
written as JSON and Markdown under benchmarks/results/.

    .venv/bin/python benchmarks/line_latency.py --parts 600 --rate 10
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machine import machine_record  # noqa: E402
from inspector.config import DEFAULT_CONFIG, load_config  # noqa: E402
from inspector.line_runner import part_rows, running_line  # noqa: E402
from inspector.line_setup import local_line_config  # noqa: E402

HOPS = {
    "trigger_to_verdict": ("t_trigger", "t_verdict"),
    "verdict_to_decision": ("t_verdict", "t_decided"),
    "decision_to_plc_write": ("t_decided", "t_plc_written"),
    "trigger_to_plc_write": ("t_trigger", "t_plc_written"),
}


def percentiles(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=float)
    return {
        "p50": round(float(np.percentile(arr, 50)), 2),
        "p90": round(float(np.percentile(arr, 90)), 2),
        "p99": round(float(np.percentile(arr, 99)), 2),
        "max": round(float(arr.max()), 2),
    }


def run(parts: int, rate: float, budget_ms: float, workdir: Path) -> dict:
    config = local_line_config(load_config(DEFAULT_CONFIG), workdir, parts=parts, rate_hz=rate)
    config = dataclasses.replace(config, actuator=dataclasses.replace(config.actuator, budget_ms=budget_ms))
    started = time.monotonic()
    with running_line(config, workdir):
        while len(part_rows(config)) < parts:
            if time.monotonic() - started > parts / rate + 120:
                raise RuntimeError("the line stopped deciding parts; see the logs in " + str(workdir / "logs"))
            time.sleep(0.5)
    rows = [dict(r) for r in part_rows(config)]
    hops = {}
    for name, (start, end) in HOPS.items():
        values = [(r[end] - r[start]) * 1000 for r in rows if r[start] is not None and r[end] is not None]
        hops[name] = percentiles(values)
    stages: dict[str, list[float]] = {}
    for r in rows:
        for stage, ms in json.loads(r["timings_ms"] or "{}").items():
            stages.setdefault(stage, []).append(ms)
    results: dict[str, int] = {}
    for r in rows:
        results[r["result"]] = results.get(r["result"], 0) + 1
    return {
        "parts": len(rows),
        "rate_hz": rate,
        "budget_ms": budget_ms,
        "results": results,
        "hops_ms": hops,
        "detector_stages_ms": {k: percentiles(v) for k, v in stages.items()},
        "over_budget": sum(1 for r in rows if r["t_plc_written"] and (r["t_plc_written"] - r["t_trigger"]) * 1000 > budget_ms),
    }


def markdown(record: dict, result: dict) -> str:
    lines = [
        "# Line latency: trigger to PLC write",
        "",
        f"- date: {record['date']}; commit {record['commit']}",
        f"- machine: {record['cpu']}, {record['cores']} cores; Python {record['python']}; "
        f"ONNX Runtime {record['onnxruntime']} ({', '.join(record['onnxruntime_providers'])})",
        f"- command: `{record['command']}`",
        f"- {result['parts']} parts at {result['rate_hz']} parts/s, budget {result['budget_ms']} ms; "
        f"results {result['results']}; over budget: {result['over_budget']}",
        "",
        "| hop | p50 ms | p90 ms | p99 ms | max ms |",
        "|---|---|---|---|---|",
    ]
    for name, p in {**result["hops_ms"], **{f"detector: {k}": v for k, v in result["detector_stages_ms"].items()}}.items():
        lines.append(f"| {name} | {p['p50']} | {p['p90']} | {p['p99']} | {p['max']} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", type=int, default=600)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--budget-ms", type=float, default=250.0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "line_latency")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="inspector-bench-") as tmp:
        result = run(args.parts, args.rate, args.budget_ms, Path(tmp))
    record = machine_record()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"machine": record, **result}, indent=2) + "\n")
    text = markdown(record, result)
    args.out.with_suffix(".md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
