"""A finished shadow run's report: ``report.md`` for people, ``report.json`` for the registry (its presence means done).

The JSON report carries the run's counts (:func:`~inspector.modelops.shadow.record.shadow_summary`); the hot
swap compares a promoted model's reject rate on the line with the one its latest shadow run measured.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from inspector.modelops.registry import ModelRegistry
from inspector.modelops.shadow.order import SHADOW, ShadowOrder

REPORT_JSON = "report.json"
REPORT_MD = "report.md"


def finished(folder: Path) -> bool:
    """Whether the run in ``folder`` wrote its report (it is not run again)."""
    return (folder / REPORT_JSON).exists()


def shadow_report(order: ShadowOrder, label: str, summary: dict) -> dict:
    """The JSON report of a run that compared its parts (``summary``: its counts)."""
    return {"run": order.run, "candidate": order.candidate, "label": label, "slot": order.slot,
            "finished_at": time.time(), **summary}


def write_report(folder: Path, order: ShadowOrder, label: str, summary: dict, report: dict) -> None:
    """``report.md``, then ``report.json`` (last: its presence means done)."""
    (folder / REPORT_MD).write_text(report_markdown(order, label, summary))
    (folder / REPORT_JSON).write_text(json.dumps(report, indent=1) + "\n")


def report_markdown(order: ShadowOrder, label: str, summary: dict) -> str:
    rate = lambda v: "n/a" if v is None else f"{100 * v:.1f} %"
    return "\n".join([
        f"# Shadow run {order.run}: {label} beside production ({order.slot})",
        "",
        (f"{summary['compared']} parts compared, {summary['agreed']} agreed; {summary['skipped']} frames skipped "
         "while the shadow was busy (production is never delayed for it)."),
        "",
        "| | parts |",
        "|---|---|",
        f"| candidate passes what production rejects | {summary['candidate_passes_production_rejects']} |",
        f"| candidate rejects what production passes | {summary['candidate_rejects_production_passes']} |",
        f"| reject rate: production | {rate(summary['production_reject_rate'])} |",
        f"| reject rate: candidate | {rate(summary['candidate_reject_rate'])} |",
        "",
        "The disagreements, with both decisions and the image, are in shadow.db (table parts, image_path).",
        "",
    ])


def shadow_reject_rate(registry: ModelRegistry, package_id: str) -> tuple[float, str] | None:
    """The reject rate the latest finished shadow run of a package measured, and the run; None if it never ran in shadow."""
    root = registry.folder / SHADOW
    reports = []
    for path in root.glob(f"*/{REPORT_JSON}") if root.is_dir() else []:
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if report.get("candidate") == package_id and report.get("candidate_reject_rate") is not None:
            reports.append(report)
    if not reports:
        return None
    latest = max(reports, key=lambda r: r.get("finished_at", 0))
    return float(latest["candidate_reject_rate"]), str(latest["run"])
