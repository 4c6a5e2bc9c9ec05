"""The reports screen's state and actions (quality engineer, admin), free of Qt.

The generated shift and monthly reports, newest first, from the reports
folder's index (:func:`inspector.reports.library.list_reports`), each with
where its HTML and PDF are; and "Escape reported": a defective part that
passed and was found downstream, stored where the reports count escapes
(:func:`inspector.reports.escapes.record_escape`, table ``report_escapes``)
and written to the audit trail (``escape_report``).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from hmi.observable import Observable
from hmi.roles import HmiError, Permission
from hmi.users import Session
from inspector.audit import AuditError, AuditTrail
from inspector.config.schema import Config
from inspector.errors import InspectorError
from inspector.records.escapes import forget_escape
from inspector.reports.escapes import record_escape
from inspector.reports.library import ReportEntry, list_reports
from inspector.reports.shifts import zone

log = logging.getLogger(__name__)


def reports_folder(config: Config) -> Path:
    """The reports folder (the loader resolves ``reports.folder``; None: ``reports`` beside the database)."""
    return Path(config.reports.folder) if config.reports.folder else Path(config.recorder.database).with_name("reports")


class ReportsViewModel(Observable):
    def __init__(self, config: Config, session: Session, audit: AuditTrail, classes: list[str]) -> None:
        super().__init__()
        self.config = config
        self.session = session
        self.audit = audit
        self.classes = list(classes)
        self.folder = reports_folder(config)
        self.reports: list[ReportEntry] = []
        self.problem = ""
        self.last_escape: dict | None = None

    def load(self) -> None:
        self.session.require(Permission.VIEW_QUALITY)
        try:
            self.reports = list_reports(self.folder)
            self.problem = "" if self.reports else f"no report generated yet in {self.folder} ('inspector report --shift ...')"
        except InspectorError as err:
            self.reports, self.problem = [], str(err)
        self._notify()

    def path_of(self, entry: ReportEntry, kind: str = "pdf") -> Path:
        """Where a report's PDF (or HTML) is; :class:`HmiError` if the file is gone."""
        path = self.folder / (entry.pdf if kind == "pdf" else entry.html)
        if not path.is_file():
            raise HmiError(f"the {kind.upper()} of report {entry.label} is not at {path} any more")
        return path

    def parse_time(self, text: str) -> float:
        """'2026-11-12 14:30' (or a date) in the plant's time zone (``reports.timezone``), as the reports count it."""
        try:
            value = dt.datetime.fromisoformat(text.strip())
        except ValueError:
            raise HmiError(f"time: expected 2026-11-12 or 2026-11-12 14:30, got {text.strip()!r}") from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=zone(self.config.reports.timezone))
        return value.timestamp()

    def report_escape(self, part: str, when: str, camera: str, defect: str, note: str) -> dict:
        """Store an escape by part id (``part``) or by the time it was made (``when``), audited."""
        user = self.session.require(Permission.REPORT_ESCAPE)
        part, when = part.strip(), when.strip()
        if not part and not when:
            raise HmiError("enter the part's id or the time it was made")
        if part and not part.isdigit():
            raise HmiError(f"part id: a whole number, got {part!r}")
        if not defect.strip():
            raise HmiError("choose the defect class that escaped")
        row = record_escape(Path(self.config.recorder.database), t=None if part else self.parse_time(when),
                            part_id=int(part) if part else None, camera=camera, defect=defect, note=note,
                            source=f"hmi:{user.name}")
        try:
            self.audit.record(user.name, "escape_report", f"escape:{row['id']}", None, row)
        except AuditError:
            self._forget(row["id"])
            raise
        self.last_escape = row
        self._notify()
        return row

    def _forget(self, escape_id: int) -> None:
        forget_escape(self.config.recorder.database, escape_id)
