"""What a gate run leaves behind: its report, as JSON and markdown in ``<registry>/gates/``.

The gate (:mod:`inspector.modelops.gate`) writes a report per run; the
registry's promotion looks for a passing one
(:func:`inspector.modelops.registry.passing_gate`), recipe selection and the
HMI read them. A report is named by the candidate's package id, the slot and
the time it ran.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from inspector.errors import ModelError

GATES = "gates"


@dataclass(frozen=True)
class ItemResult:
    source: str
    label: str
    origin: str
    expect: str
    production_rejects: bool
    candidate_rejects: bool
    candidate_score: float


@dataclass(frozen=True)
class GateReport:
    candidate: str  # package id
    candidate_label: str
    production: str  # content address of what the slot ran (package id, also for a configured model)
    production_label: str
    slot: str
    golden_version: str
    tolerance: float
    passed: bool
    reasons: list[str]
    counts: dict[str, int]
    missed_defects: list[str]
    challenge_failures: list[str]
    run_by: str
    run_at: float
    items: list[ItemResult] = field(default_factory=list)

    @property
    def candidate_scores(self) -> list[float]:
        """The candidate's part scores on the golden set (the reference distribution for drift)."""
        return [i.candidate_score for i in self.items]


def markdown(report: GateReport) -> str:
    c = report.counts
    lines = [
        f"# Gate: {report.candidate_label} against {report.production_label} ({report.slot})",
        "",
        f"**{'PASSED' if report.passed else 'FAILED'}**" + ("" if report.passed else ": " + "; ".join(report.reasons)),
        "",
        (f"Golden set {report.golden_version}: {c['items']} images ({c['good']} good, {c['defective']} defective, "
         f"{c['challenge']} challenge parts). Run by {report.run_by} at "
         f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(report.run_at))}."),
        "",
        "| | production | candidate |",
        "|---|---|---|",
        f"| defects caught | {c['production_caught']} / {c['defective']} | {c['candidate_caught']} / {c['defective']} |",
        f"| false rejects | {c['production_false_rejects']} / {c['good']} | {c['candidate_false_rejects']} / {c['good']} |",
        "",
        f"False-reject tolerance: {report.tolerance:g} of the good images.",
    ]
    if report.missed_defects:
        lines += ["", "Defects production catches and the candidate misses:", *(f"- {s}" for s in report.missed_defects)]
    if report.challenge_failures:
        lines += ["", "Challenge parts the candidate gets wrong:", *(f"- {s}" for s in report.challenge_failures)]
    return "\n".join(lines) + "\n"


def store_report(folder: Path, report: GateReport) -> Path:
    """Write the report (JSON and markdown) into the gates ``folder``; returns the JSON file's path."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{report.candidate[:12]}-{report.slot}-{time.strftime('%Y%m%d-%H%M%S', time.localtime(report.run_at))}-{int(report.run_at * 1000) % 1000:03d}"
    path = folder / f"{stem}.json"
    path.write_text(json.dumps(asdict(report), indent=1) + "\n")
    path.with_suffix(".md").write_text(markdown(report))
    return path


def read_reports(folder: Path, candidate_id: str) -> list[GateReport]:
    """Every report of a candidate stored in the gates ``folder``, oldest first."""
    reports = []
    for path in sorted(folder.glob(f"{candidate_id[:12]}-*.json")) if folder.is_dir() else []:
        try:
            raw = json.loads(path.read_text())
            raw["items"] = [ItemResult(**i) for i in raw.get("items", [])]
            reports.append(GateReport(**raw))
        except (OSError, ValueError, TypeError) as err:
            raise ModelError(f"gate report {path} is unreadable: {err}") from err
    return sorted((r for r in reports if r.candidate == candidate_id), key=lambda r: r.run_at)
