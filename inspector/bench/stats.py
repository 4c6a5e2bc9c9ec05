"""Latency statistics and the line's hops, as every benchmark reports them."""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

import numpy as np

PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9))

# recorder columns: hop name -> (start, end) timestamps (seconds since the epoch)
HOPS = {
    "trigger_to_verdict": ("t_trigger", "t_verdict"),
    "verdict_to_decision": ("t_verdict", "t_decided"),
    "decision_to_plc_write": ("t_decided", "t_plc_written"),
    "plc_reply": ("t_plc_sent", "t_plc_written"),  # the PLC's service time and the network's
    "trigger_to_decision": ("t_trigger", "t_decided"),
    "trigger_to_plc_request": ("t_trigger", "t_plc_sent"),
    "trigger_to_plc_write": ("t_trigger", "t_plc_written"),
}


def percentiles(values: Iterable[float], digits: int = 3) -> dict[str, float]:
    """Count, mean, p50, p90, p99, p99.9 and max of ``values`` (ms); NaN for each when empty."""
    arr = np.asarray(list(values), dtype=float)
    if not arr.size:
        return {"count": 0, "mean": float("nan"), **{k: float("nan") for k, _ in PERCENTILES}, "max": float("nan")}
    out: dict[str, float] = {"count": int(arr.size), "mean": round(float(arr.mean()), digits)}
    for key, q in PERCENTILES:
        out[key] = round(float(np.percentile(arr, q)), digits)
    out["max"] = round(float(arr.max()), digits)
    return out


# A part decided at its deadline was decided before any verdict came: a verdict recorded for it came late,
# after the decision, and is no hop from verdict to decision.
HOPS_FROM_THE_VERDICT = ("verdict_to_decision",)


def hop_latencies(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[float]]:
    """Per hop, the latency in ms of every recorded part that has both of its timestamps."""
    rows = list(rows)
    return {
        name: [
            (r[end] - r[start]) * 1000
            for r in rows
            if r.get(start) is not None and r.get(end) is not None
            and not (name in HOPS_FROM_THE_VERDICT and r.get("source") == "deadline")
        ]
        for name, (start, end) in HOPS.items()
    }


def stage_latencies(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[float]]:
    """The detector's per-stage times (ms) recorded with each part."""
    stages: dict[str, list[float]] = {}
    for r in rows:
        for stage, ms in json.loads(r["timings_ms"] or "{}").items():
            stages.setdefault(stage, []).append(ms)
    return stages


def count_by(rows: Iterable[Mapping[str, Any]], column: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r[column]] = counts.get(r[column], 0) + 1
    return counts
