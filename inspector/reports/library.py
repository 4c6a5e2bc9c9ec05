"""The reports folder: generated reports and their index (``index.json``), which the HMI can list.

Layout: ``<folder>/<shift|month>/<label>.html`` and ``.pdf``, and ``<folder>/index.json``,
one entry per report (the newest generation of a period and station set replaces the older).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from inspector.config.schema import ReportsConfig
from inspector.errors import ReportError
from inspector.reports.figures import Figures, report_figures
from inspector.reports.render import pages, write_html, write_pdf
from inspector.reports.shifts import Period

log = logging.getLogger(__name__)
INDEX = "index.json"


@dataclass(frozen=True)
class ReportEntry:
    kind: str
    label: str
    start: float
    end: float
    stations: list[str]
    html: str  # relative to the folder
    pdf: str
    generated: float
    inspected: int
    reject_rate: float
    false_reject_rate: float


def list_reports(folder: str | Path) -> list[ReportEntry]:
    """The generated reports, newest period first (empty when none was made yet)."""
    path = Path(folder) / INDEX
    if not path.exists():
        return []
    try:
        entries = json.loads(path.read_text())
        return sorted((ReportEntry(**e) for e in entries), key=lambda e: (e.start, e.kind), reverse=True)
    except (OSError, ValueError, TypeError) as err:
        raise ReportError(f"the reports index {path} cannot be read: {err}") from err


def _write_index(folder: Path, entries: list[ReportEntry]) -> None:
    tmp = folder / (INDEX + ".tmp")
    tmp.write_text(json.dumps([asdict(e) for e in entries], indent=1))
    os.replace(tmp, folder / INDEX)


def generate(databases: list[Path], period: Period, reports: ReportsConfig, folder: Path | None = None,
             now: float | None = None) -> tuple[ReportEntry, list[Figures]]:
    """Write the HTML and PDF of ``period`` into the reports folder and list it in the index."""
    folder = Path(folder or reports.folder or "reports")
    figures = report_figures(databases, period, reports, now)
    subject = figures[0]
    stations = [f.station for f in (figures[1:] if len(figures) > 1 else figures)]
    suffix = "" if len(stations) == 1 else "-" + "+".join(stations)
    stem = f"{period.slug}{suffix}"[:150].replace("/", "_").replace(" ", "_")
    title = f"{'Shift' if period.kind == 'shift' else 'Monthly'} report {period.label} — {subject.station}"
    try:
        (folder / period.kind).mkdir(parents=True, exist_ok=True)
        html_path, pdf_path = folder / period.kind / f"{stem}.html", folder / period.kind / f"{stem}.pdf"
        rendered = pages(figures)
        write_pdf(rendered, pdf_path, title)
        write_html(figures, rendered, html_path, title)
        entry = ReportEntry(period.kind, period.label, period.start, period.end, stations,
                            str(html_path.relative_to(folder)), str(pdf_path.relative_to(folder)), time.time(),
                            subject.inspected, subject.reject_rate, subject.false_reject_rate)
        kept = [e for e in list_reports(folder) if (e.html, e.pdf) != (entry.html, entry.pdf)]
        _write_index(folder, kept + [entry])
    except OSError as err:
        raise ReportError(f"cannot write the report into {folder}: {err}") from err
    log.info("report %s written: %s", period.label, html_path)
    return entry, figures
