"""Alternating runs of the line, A/B/A/B, that differ in one thing only (a shadow run, the plant outputs).

A shared machine's speed drifts over minutes; alternating the two arms lets
the drift hit both alike. Each run is a full ``bench line`` run in its own
folder; the comparison pools each arm's parts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from inspector.bench.line import LineHooks, LineSettings, run_line
from inspector.bench.stats import percentiles
from inspector.bench.tables import PCT_HEADER, pct_row
from inspector.config.schema import Config

COMPARED_HOPS = ("trigger_to_plc_write", "trigger_to_plc_request")

HooksFactory = Callable[[], LineHooks]


def alternating_runs(base: Config, workdir: Path, settings: LineSettings, arms: dict[str, HooksFactory], runs: int,
                     progress: Callable[[str], None] = lambda _: None) -> list[dict[str, Any]]:
    """``runs`` line runs, taking the arms in turn (the first arm first); each result carries its ``arm`` and ``run``."""
    names = list(arms)
    results = []
    for i in range(runs):
        arm = names[i % len(names)]
        progress(f"run {i + 1} of {runs}: {arm}, {settings.parts} parts at {settings.rate_hz:g}/s")
        result = run_line(base, workdir / f"run-{i + 1}-{arm.replace(' ', '-')}", settings, arms[arm]())
        results.append({"run": i + 1, "arm": arm, **result})
    return results


def pooled(results: list[dict[str, Any]], arm: str, hop: str, settle_parts: int = 0) -> list[float]:
    """The arm's samples of ``hop``, in part order, without each run's first ``settle_parts`` parts."""
    return [ms for r in results if r["arm"] == arm for ms in r["samples_ms"][hop][settle_parts:]]


def compare_arms(results: list[dict[str, Any]], off: str, on: str, settle_parts: int = 0) -> dict[str, Any]:
    """Per hop: each arm's pooled percentiles, the p50 of each run, the ratio and the difference of the pooled p50s.

    Each run's first ``settle_parts`` parts are left out: the services of an "on" arm start beside the line's
    first parts (an OPC UA server, a client subscribing), which is start-up, not the steady cost compared."""
    out: dict[str, Any] = {"settle_parts": settle_parts}
    for hop in COMPARED_HOPS:
        p_off, p_on = percentiles(pooled(results, off, hop, settle_parts)), percentiles(pooled(results, on, hop, settle_parts))
        out[hop] = {
            off: p_off,
            on: p_on,
            "run_p50_ms": [{"run": r["run"], "arm": r["arm"], "p50": percentiles(r["samples_ms"][hop][settle_parts:])["p50"]}
                           for r in results],
            "ratio_p50": round(p_on["p50"] / p_off["p50"], 4) if p_off["count"] and p_on["count"] else float("nan"),
            "difference_p50_ms": round(p_on["p50"] - p_off["p50"], 3) if p_off["count"] and p_on["count"] else float("nan"),
        }
    return out


def run_summary(r: dict[str, Any]) -> dict[str, Any]:
    """What the report keeps of one run (the full hop tables stay in the pooled comparison)."""
    a = r["accounting"]
    return {
        "run": r["run"], "arm": r["arm"], "rate_hz": r["rate_hz"], "achieved_rate_hz": r["achieved_rate_hz"],
        "results": r["results"], "failsafe": r["failsafe"], "plc_undelivered": r["plc_undelivered"],
        "accounting": a, "trigger_to_plc_write_ms": r["hops_ms"]["trigger_to_plc_write"],
        "one_decision_each": a["silent_drops"] == 0 and a["duplicate_decisions"] == 0 and a["decided"] == a["triggered"],
        **{k: r[k] for k in ("shadow", "outputs") if k in r},
        "samples_ms": r["samples_ms"],
    }


def accounting_check(prefix: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    bad = [r["run"] for r in runs if not r["one_decision_each"]]
    parts = sum(r["accounting"]["triggered"] for r in runs)
    return {"check": f"{prefix}: every part exactly one decision, {len(runs)} runs, {parts} parts",
            "value": f"runs failing: {bad}" if bad else "all runs", "limit": "0 drops, 0 duplicates", "ok": not bad}


def runs_table(runs: list[dict[str, Any]], extra: Callable[[dict[str, Any]], str] = lambda _: "", extra_header: str = "") -> list[str]:
    head = "| run | arm | parts/s (achieved) | trigger to PLC p50 ms (all its parts) | p99 ms | max ms | fail-safes | triggered / decided / actuator | silent drops |"
    sep = "|---|---|---|---|---|---|---|---|---|"
    if extra_header:
        head, sep = head + f" {extra_header} |", sep + "---|"
    lines = [head, sep]
    for r in runs:
        p, a = r["trigger_to_plc_write_ms"], r["accounting"]
        row = (f"| {r['run']} | {r['arm']} | {r['rate_hz']:g} ({r['achieved_rate_hz']}) | {p['p50']} | {p['p99']} | {p['max']} | "
               f"{r['failsafe']} | {a['triggered']} / {a['decided']} / {a['actuator_decisions']} | {a['silent_drops']} |")
        lines.append(row + (f" {extra(r)} |" if extra_header else ""))
    return lines


def comparison_table(comparison: dict[str, Any], off: str, on: str) -> list[str]:
    hops = {hop: c for hop, c in comparison.items() if hop != "settle_parts"}
    lines = [f"Each run's first {comparison['settle_parts']} parts left out (start-up of the services); pooled over the runs of each arm:",
             "", *PCT_HEADER]
    for hop, c in hops.items():
        lines.append(pct_row(f"{hop}, {off} (pooled)", c[off]))
        lines.append(pct_row(f"{hop}, {on} (pooled)", c[on]))
    lines += ["", "| hop | p50 ratio on/off | p50 difference on − off ms |", "|---|---|---|"]
    lines += [f"| {hop} | {c['ratio_p50']} | {c['difference_p50_ms']} |" for hop, c in hops.items()]
    return lines
