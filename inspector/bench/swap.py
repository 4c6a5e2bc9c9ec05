"""Latency of the parts around a model swap on the running line (``inspector bench swap``).

The bench station's registry gets the station's model (A) and a signed copy
of it under another version (B, signed by the bench's throwaway key, which
only the bench station trusts). A is promoted before the line starts. While
the line runs, B is promoted through the registry once ``window`` parts were
decided, exactly as ``inspector model promote`` does, and the registry is
rolled back to A once B decided ``window`` parts. The detector swaps between
parts; nothing stops.

The report gives, for each swap, trigger-to-PLC latency of the ``window``
parts before the first part on the new model and of the ``window`` parts
from it on (p50, p99, max), their fail-safes, the delay from the command to
the first part on the new model, and the line's accounting: every part got
exactly one decision.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from inspector.bench.bench_models import signed_copy, trusting_bench_key
from inspector.bench.line import FAILSAFE_RESULTS, LineSettings, run_line
from inspector.bench.stats import hop_latencies, percentiles
from inspector.bench.tables import PCT_HEADER, pct_row
from inspector.config.schema import Config
from inspector.line_runner import parts_on_model
from inspector.modelops.registry import ModelRegistry

USER = "bench"
B_VERSION = "bench-swap-B"
HOP = "trigger_to_plc_write"


class SwapHooks:
    """Installs A and B, promotes B mid-run and rolls back to A; records when each command was given."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.a = self.b = ""
        self.commands: list[dict[str, Any]] = []

    def prepare(self, config: Config, workdir: Path) -> Config:
        config = trusting_bench_key(config, workdir)
        with ModelRegistry(config) as registry:
            a, _ = registry.install(config.detector.model, USER)
            b, _ = registry.install(signed_copy(config, workdir, B_VERSION), USER)
            registry.promote(a.label, USER, reason="bench swap: the line's baseline", force=True)
        self.a, self.b = a.label, b.label
        return config

    def during(self, config: Config, decided: int, counters: dict[str, dict[str, int]]) -> bool:
        if not self.commands and decided >= self.window:
            with ModelRegistry(config) as registry:
                registry.promote(self.b, USER, reason="bench swap: promotion under load", force=True)
            self.commands.append({"command": "promote", "to": self.b, "t": time.time(), "decided_before": decided})
        elif len(self.commands) == 1 and parts_on_model(config, self.b) >= self.window:
            with ModelRegistry(config) as registry:
                registry.rollback(USER, reason="bench swap: rollback under load")
            self.commands.append({"command": "rollback", "to": self.a, "t": time.time(), "decided_before": decided})
        return False

    def stopping(self, config: Config) -> None:
        pass

    def after(self, config: Config, rows: list[dict], counters: dict[str, dict[str, int]]) -> dict[str, Any]:
        return {"swap": analyse_swaps(rows, self.a, self.b, self.commands, self.window)}


def model_runs(rows: list[dict]) -> list[dict[str, Any]]:
    """The model versions in trigger order, as runs: version, first row index, number of parts."""
    runs: list[dict[str, Any]] = []
    for i, r in enumerate(rows):
        if runs and runs[-1]["model"] == r["model_version"]:
            runs[-1]["parts"] += 1
        else:
            runs.append({"model": r["model_version"], "first": i, "parts": 1})
    return runs


def _around(rows: list[dict]) -> dict[str, Any]:
    return {
        "part_ids": [rows[0]["part_id"], rows[-1]["part_id"]] if rows else [],
        "latency_ms": percentiles(hop_latencies(rows)[HOP]),
        "failsafe": sum(1 for r in rows if r["result"] in FAILSAFE_RESULTS),
    }


def analyse_swaps(rows: list[dict], a: str, b: str, commands: list[dict], window: int) -> dict[str, Any]:
    """Each swap seen in the recorded parts: latency of the parts before and after it, fail-safes, delay."""
    rows = sorted(rows, key=lambda r: (r["t_trigger"], r["camera"], r["part_id"]))
    runs = model_runs(rows)
    swaps = []
    for k, run in enumerate(runs[1:]):
        first = run["first"]
        command = commands[k] if k < len(commands) and commands[k]["to"] == run["model"] else None
        new = rows[first]
        swaps.append({
            "from": runs[k]["model"],
            "to": run["model"],
            "command": command["command"] if command else None,
            "first_part_id": new["part_id"],
            "first_part_marked": new.get("first_on_model") == 1,
            "command_to_first_part_s": round(new["t_trigger"] - command["t"], 3) if command else None,
            "parts_triggered_between": sum(1 for r in rows if command and command["t"] <= r["t_trigger"] < new["t_trigger"]),
            "before": _around(rows[max(0, first - window):first]),
            "after": _around(rows[first:first + window]),
        })
    swap_ids = {s["first_part_id"] for s in swaps}
    near = set()
    for s in swaps:
        i = next(j for j, r in enumerate(rows) if r["part_id"] == s["first_part_id"])
        near.update(r["part_id"] for r in rows[max(0, i - window):i + window])
    steady = [r for r in rows if r["part_id"] not in near]
    return {
        "window": window,
        "models": {"A": a, "B": b},
        "sequence": [r["model"] for r in runs],
        "expected_sequence": [a, b, a],
        "commands": commands,
        "swaps": swaps,
        "steady": _around(steady),
        "swapped_parts": sorted(swap_ids),
    }


def bench_swap(base: Config, workdir: Path, settings: LineSettings, window: int) -> dict[str, Any]:
    """The line on A, B promoted mid-run, rolled back to A: the line's result with its ``swap`` analysis."""
    return run_line(base, workdir, settings, SwapHooks(window))


def swap_checks(line: dict[str, Any]) -> list[dict[str, Any]]:
    s, acc = line["swap"], line["accounting"]
    one = acc["silent_drops"] == 0 and acc["duplicate_decisions"] == 0 and acc["decided"] == acc["triggered"]
    near_failsafe = sum(x["before"]["failsafe"] + x["after"]["failsafe"] for x in s["swaps"])
    out = [
        {"check": f"swap: every part exactly one decision over {acc['triggered']} parts", "value": f"{acc['decided']} decided, "
         f"{acc['silent_drops']} silent drops, {acc['duplicate_decisions']} duplicates", "limit": "0 drops, 0 duplicates", "ok": one},
        {"check": "swap: models in part order (A, promoted B, rolled back to A)", "value": " → ".join(s["sequence"]),
         "limit": " → ".join(s["expected_sequence"]), "ok": s["sequence"] == s["expected_sequence"]},
        {"check": f"swap: fail-safe decisions within {s['window']} parts of a swap", "value": near_failsafe, "limit": 0, "ok": near_failsafe == 0},
    ]
    for x in s["swaps"]:
        before, after = x["before"]["latency_ms"]["p99"], x["after"]["latency_ms"]["p99"]
        if before and after and math.isfinite(before) and math.isfinite(after):
            out.append({"check": f"swap ({x['command'] or 'unexpected'} to {x['to']}): p99 of the {s['window']} parts after / before",
                        "value": round(after / before, 3), "limit": "reported", "ok": None})
    return out


def swap_section(line: dict[str, Any]) -> list[str]:
    s = line["swap"]
    lines = [
        "## Model swap on the running line",
        "",
        (f"A = `{s['models']['A']}`, B = `{s['models']['B']}` (the same weights under another version, signed by the bench's "
         f"throwaway key). B promoted through the registry after {s['window']} parts, rolled back to A once B decided "
         f"{s['window']} parts. Models in part order: {' → '.join(s['sequence'])}."),
        "",
        "| swap | first part on the new model | marked first_on_model=1 | command to first part s | parts triggered in between | fail-safes before / after |",
        "|---|---|---|---|---|---|",
    ]
    for x in s["swaps"]:
        lines.append(f"| {x['command'] or '?'}: {x['from']} → {x['to']} | {x['first_part_id']} | {x['first_part_marked']} | "
                     f"{x['command_to_first_part_s']} | {x['parts_triggered_between']} | {x['before']['failsafe']} / {x['after']['failsafe']} |")
    lines += ["", f"Trigger to PLC write confirmed, the {s['window']} parts before and after each swap, and all other parts:", "", *PCT_HEADER]
    for x in s["swaps"]:
        lines.append(pct_row(f"{x['command'] or '?'} to {x['to']}: before", x["before"]["latency_ms"]))
        lines.append(pct_row(f"{x['command'] or '?'} to {x['to']}: after", x["after"]["latency_ms"]))
    lines.append(pct_row("parts away from any swap", s["steady"]["latency_ms"]))
    return lines + [""]
