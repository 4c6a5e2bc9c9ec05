"""What a shadow run costs production (``inspector bench shadow``).

Alternating runs of the line, shadow off and on (A/B/A/B), the same bench
station otherwise: both arms trust the bench key and have the candidate
installed; the "on" arm orders a shadow run of the candidate (a signed copy
of the station's model under another version) over every part before the
line starts. The report gives production's trigger-to-PLC p50 on against
off and their ratio against the limit of 1.1, and the shadow's own count of
what it compared and what it skipped.

Then the same pair at ``busy_rate``, a part rate that leaves no spare
capacity: the shadow yields (production never waits for it) and counts each
frame it skipped. Its accounting is exact: every frame production inspected
was either compared by the shadow or skipped and counted.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inspector.bench.ab_runs import (
    accounting_check,
    alternating_runs,
    compare_arms,
    comparison_table,
    run_summary,
    runs_table,
)
from inspector.bench.bench_models import signed_copy, trusting_bench_key
from inspector.bench.line import LineSettings
from inspector.config.schema import Config
from inspector.modelops.registry import ModelRegistry
from inspector.modelops.shadow import run_folder, shadow_summary, start_shadow

USER = "bench"
CANDIDATE_VERSION = "bench-shadow-candidate"
SHADOW_P50_RATIO_MAX = 1.1
OFF, ON = "shadow off", "shadow on"
SETTLED_HEARTBEATS = 3  # the detector's counters unchanged for this many heartbeats: its queue is empty


@dataclasses.dataclass(frozen=True)
class ShadowSettings:
    runs: int = 4
    settle_parts: int = 0  # each run's first parts, left out of the comparison
    busy_rate_hz: float | None = 40.0  # None: no busy case


class ShadowHooks:
    """Both arms: the bench key trusted, the candidate installed; ``on``: a shadow run of it over every part."""

    def __init__(self, on: bool, parts: int) -> None:
        self.on, self.parts = on, parts
        self.run = ""
        self.candidate = self.production = ""
        self._inspected, self._since = -1, 0.0

    def prepare(self, config: Config, workdir: Path) -> Config:
        config = trusting_bench_key(config, workdir)
        with ModelRegistry(config) as registry:
            candidate, _ = registry.install(signed_copy(config, workdir, CANDIDATE_VERSION), USER)
            self.candidate = candidate.label
            if self.on:
                self.run = start_shadow(registry, candidate.label, USER, parts=self.parts * len(config.cameras)).run
        return config

    def during(self, config: Config, decided: int, counters: dict[str, dict[str, int]]) -> bool:
        """Shadow on: hold the line until the detector has judged its last queued frame (its counter stood still for a while)."""
        if not self.on:
            return False
        detector = counters["detector"]
        inspected = detector.get("passed", 0) + detector.get("rejected", 0)
        now = time.monotonic()
        if inspected != self._inspected:
            self._inspected, self._since = inspected, now
        return now - self._since < SETTLED_HEARTBEATS * config.supervisor.heartbeat_interval_s

    def stopping(self, config: Config) -> None:
        pass

    def after(self, config: Config, rows: list[dict], counters: dict[str, dict[str, int]]) -> dict[str, Any]:
        decided_by = sorted({r["model_version"] for r in rows if r["model_version"]})  # fail-safes name no model
        shadow: dict[str, Any] = {"on": self.on, "candidate": self.candidate, "decided_by": decided_by,
                                  "candidate_decided_parts": sum(1 for r in rows if r["model_version"] == self.candidate)}
        if self.on:
            with ModelRegistry(config) as registry:
                folder = run_folder(registry, self.run)
            summary = shadow_summary(folder) if (folder / "shadow.db").is_file() else {"compared": 0, "skipped": 0}
            detector = counters["detector"]
            inspected = detector.get("passed", 0) + detector.get("rejected", 0)  # frames production's detector judged
            shadow.update(run=self.run, **summary, inspected=inspected,
                          accounted=summary["compared"] + summary["skipped"] == inspected)
        return {"shadow": shadow}


def bench_shadow(base: Config, workdir: Path, settings: LineSettings, shadow: ShadowSettings,
                 progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    arms = {OFF: lambda: ShadowHooks(False, settings.parts), ON: lambda: ShadowHooks(True, settings.parts)}
    results = alternating_runs(base, workdir / "spare", settings, arms, shadow.runs, progress)
    out: dict[str, Any] = {
        "parts_per_run": settings.parts, "rate_hz": settings.rate_hz, "runs": [run_summary(r) for r in results],
        "comparison": compare_arms(results, OFF, ON, shadow.settle_parts), "limit_ratio_p50": SHADOW_P50_RATIO_MAX,
    }
    if shadow.busy_rate_hz:
        busy = dataclasses.replace(settings, rate_hz=shadow.busy_rate_hz)
        busy_results = alternating_runs(base, workdir / "busy", busy, arms, 2, progress)
        out["busy"] = {"rate_hz": shadow.busy_rate_hz, "runs": [run_summary(r) for r in busy_results],
                       "comparison": compare_arms(busy_results, OFF, ON, shadow.settle_parts)}
    return out


def _on_runs(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in runs if r["shadow"]["on"]]


def shadow_checks(s: dict[str, Any]) -> list[dict[str, Any]]:
    ratio = s["comparison"]["trigger_to_plc_write"]["ratio_p50"]
    out = [
        {"check": f"shadow: production trigger-to-PLC p50, shadow on / off at {s['rate_hz']:g} parts/s (spare capacity)",
         "value": ratio, "limit": SHADOW_P50_RATIO_MAX, "ok": math.isfinite(ratio) and ratio <= SHADOW_P50_RATIO_MAX},
        accounting_check("shadow", s["runs"] + s.get("busy", {}).get("runs", [])),
    ]
    every = s["runs"] + s.get("busy", {}).get("runs", [])
    candidate_parts = sum(r["shadow"]["candidate_decided_parts"] for r in every)
    out.append({"check": "shadow: parts decided by the candidate (it never decides)", "value": candidate_parts, "limit": 0,
                "ok": candidate_parts == 0})
    on = _on_runs(every)
    unaccounted = [r["run"] for r in on if not r["shadow"]["accounted"]]
    out.append({"check": "shadow: every frame production judged was compared by the shadow or skipped and counted",
                "value": f"runs failing: {unaccounted}" if unaccounted else f"{len(on)} shadow runs",
                "limit": "compared + skipped = judged", "ok": not unaccounted})
    out.append({"check": f"shadow: frames skipped at {s['rate_hz']:g} parts/s", "value": sum(r["shadow"]["skipped"] for r in _on_runs(s["runs"])),
                "limit": "reported", "ok": None})
    if s.get("busy"):
        skipped = sum(r["shadow"]["skipped"] for r in _on_runs(s["busy"]["runs"]))
        out.append({"check": f"shadow: frames skipped at {s['busy']['rate_hz']:g} parts/s (no spare capacity: it yields)",
                    "value": skipped, "limit": "reported", "ok": None})
    return out


def _shadow_cell(r: dict[str, Any]) -> str:
    s = r["shadow"]
    return f"{s['compared']} / {s['skipped']}" if s["on"] else "–"


def shadow_section(s: dict[str, Any]) -> list[str]:
    lines = [
        "## Shadow on against off",
        "",
        (f"Alternating runs of the line ({s['parts_per_run']} parts each at {s['rate_hz']:g} parts/s), shadow off and on, the "
        "same bench station otherwise. The shadow candidate is a signed copy of the station's model under another version; "
        "production decides every part."),
        "",
        *runs_table(s["runs"], _shadow_cell, "shadow compared / skipped"),
        "",
        *comparison_table(s["comparison"], OFF, ON),
        "",
        f"Limit: production p50 with the shadow on at most {s['limit_ratio_p50']}× the p50 with it off.",
        "",
    ]
    if s.get("busy"):
        b = s["busy"]
        lines += [
            f"### No spare capacity: {b['rate_hz']:g} parts/s",
            "",
            ("The shadow worker runs at the lowest priority and takes a frame only when it is idle: at this rate it yields "
            "and counts what it skipped; production decides every part either way."),
            "",
            *runs_table(b["runs"], _shadow_cell, "shadow compared / skipped"),
            "",
            *comparison_table(b["comparison"], OFF, ON),
            "",
        ]
    return lines
