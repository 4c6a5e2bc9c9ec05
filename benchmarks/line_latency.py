"""Trigger-to-PLC-write latency of the whole line, on the embedded defaults.

Runs the real line (camera, detector, actuator, recorder as processes, the
cpppo PLC simulator over loopback) at a set part rate and reports latency
percentiles per hop, read back from the recorder's database. Results are
written as JSON and Markdown under benchmarks/results/. The measuring is
``inspector bench line`` (:mod:`inspector.bench.line`); this script keeps the
short per-hop table.

    .venv/bin/python benchmarks/line_latency.py --parts 600 --rate 10
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inspector.bench.line import LineSettings, run_line  # noqa: E402
from inspector.bench.machine import machine_record, write_result_files  # noqa: E402
from inspector.config import DEFAULT_CONFIG, load_config  # noqa: E402


def run(parts: int, rate: float, budget_ms: float, workdir: Path) -> dict:
    result = run_line(load_config(DEFAULT_CONFIG), workdir, LineSettings(parts=parts, rate_hz=rate, budget_ms=budget_ms))
    result.pop("samples_ms")
    return result


def markdown(record: dict, result: dict) -> str:
    lines = [
        "# Line latency: trigger to PLC write",
        "",
        f"- date: {record['date']}; commit {record['commit']}",
        f"- machine: {record['cpu']}, {record['cores']} cores; Python {record['python']}; "
        f"ONNX Runtime {record['onnxruntime']} ({', '.join(record['onnxruntime_providers'])})",
        f"- command: `{record['command']}`",
        f"- {result['parts_per_camera']} parts at {result['rate_hz']} parts/s, budget {result['budget_ms']} ms; "
        f"results {result['results']}; over budget: {result['over_budget']}; "
        f"silent drops: {result['accounting']['silent_drops']}",
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
    write_result_files(args.out, {"machine": record, **result}, markdown(record, result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
