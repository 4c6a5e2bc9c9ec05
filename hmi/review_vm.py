"""The review screen's state and actions (quality engineer), free of Qt.

A queue of rejects and sampled passes, filtered; one open image whose label
(good / defective) and boxes are edited as a draft and saved; bulk labels;
export of every reviewed image as a dataset version. Every save and export
is checked against the role and written to the audit trail. The verdict
filter ``uncertain`` is triage: the unlabelled parts scored closest to a
reject threshold (:func:`inspector.modelops.triage.uncertain_parts`), least
certain first.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Callable

from hmi.observable import Observable
from hmi.roles import HmiError, Permission
from hmi.users import Session
from inspector.audit import AuditError, AuditTrail
from inspector.datasets_tool.export import ExportResult, export_dataset
from inspector.records.marks import Label
from inspector.records.parts import Box, PartKey, PartRecord, ReviewFilter
from inspector.records.station import StationDatabase

log = logging.getLogger(__name__)


def _label_state(label: str | None, boxes: list[Box]) -> dict:
    return {"label": label, "boxes": [b.to_json() for b in boxes]}


class ReviewViewModel(Observable):
    def __init__(self, db: StationDatabase, session: Session, audit: AuditTrail, classes: list[str], datasets_dir: Path,
                 triage: Callable[[], list] | None = None) -> None:
        """``triage()``: the uncertain parts, least certain first (``UncertainPart``s); None: no triage filter."""
        super().__init__()
        self.db = db
        self.session = session
        self.audit = audit
        self.classes = list(classes)
        self.datasets_dir = datasets_dir
        self.filter = ReviewFilter()
        self.queue: list[PartRecord] = []
        self.selected: set[PartKey] = set()
        self.current: PartRecord | None = None
        self.draft_label: Label | None = None
        self.draft_boxes: list[Box] = []
        self.dirty = False
        self.last_export: ExportResult | None = None
        self.triage = triage
        self.uncertainty: dict[PartKey, object] = {}  # for the triage filter: the part's UncertainPart

    # -- the queue --------------------------------------------------------------------
    def load(self, flt: ReviewFilter | None = None) -> None:
        self.session.require(Permission.VIEW_REVIEW)
        if flt is not None:
            self.filter = flt
        self.queue = self._triage_queue() if self.filter.verdict == "uncertain" else self.db.review_queue(self.filter)
        keys = {p.key for p in self.queue}
        self.selected &= keys
        if self.current is not None and self.current.key in keys and not self.dirty:
            self.open(self.current.key)
            return
        self._notify()

    def _triage_queue(self) -> list[PartRecord]:
        if self.triage is None:
            raise HmiError("triage is not available here (no station config)")
        uncertain = self.triage()
        self.uncertainty = {(u.camera, u.part_id): u for u in uncertain}
        queue = []
        for u in uncertain:
            part = self.db.part((u.camera, u.part_id))
            if part is not None and (self.filter.since is None or part.t_trigger >= self.filter.since) and (
                    not self.filter.cls or u.cls == self.filter.cls) and self.filter.reviewed is not True:
                queue.append(part)
        return queue[: self.filter.limit]

    def open(self, key: PartKey) -> None:
        """Make ``key`` the open image; the draft starts from its saved label, else from the model's detections."""
        self.session.require(Permission.VIEW_REVIEW)
        part = self.db.part(key)
        if part is None:
            raise HmiError(f"part {key[1]} of camera {key[0]} is not in the database")
        self.current = part
        if part.label is not None:
            self.draft_label, self.draft_boxes = part.label, list(part.label_boxes)
        else:
            boxes = [b for b, d in zip(part.detection_boxes(), part.detections) if d.get("causes_reject", True)]
            self.draft_label = "defective" if part.is_reject and boxes else "good" if not part.is_reject else None
            self.draft_boxes = boxes
        self.dirty = False
        self._notify()

    def select(self, keys: set[PartKey]) -> None:
        self.selected = set(keys)
        self._notify()

    # -- editing the draft -----------------------------------------------------------
    def _require_open(self) -> PartRecord:
        self.session.require(Permission.RELABEL)
        if self.current is None:
            raise HmiError("no image is open")
        return self.current

    def _check_class(self, cls: str) -> None:
        if cls not in self.classes:
            raise HmiError(f"unknown defect class {cls!r} (one of {', '.join(self.classes)})")

    def set_label(self, label: Label) -> None:
        self._require_open()
        self.draft_label = label
        if label == "good":
            self.draft_boxes = []
        self.dirty = True
        self._notify()

    def add_box(self, cls: str, box: tuple[float, float, float, float]) -> int:
        self._require_open()
        self._check_class(cls)
        self.draft_boxes.append(Box.of(cls, box))
        self.draft_label = "defective"
        self.dirty = True
        self._notify()
        return len(self.draft_boxes) - 1

    def move_box(self, index: int, box: tuple[float, float, float, float]) -> None:
        self._require_open()
        self.draft_boxes[index] = Box.of(self.draft_boxes[index].cls, box)
        self.dirty = True
        self._notify()

    def set_box_class(self, index: int, cls: str) -> None:
        self._require_open()
        self._check_class(cls)
        self.draft_boxes[index] = replace(self.draft_boxes[index], cls=cls)
        self.dirty = True
        self._notify()

    def delete_box(self, index: int) -> None:
        self._require_open()
        del self.draft_boxes[index]
        self.dirty = True
        self._notify()

    def save(self) -> None:
        """Store the draft as the open image's label, with an audit entry (before and after)."""
        part = self._require_open()
        user = self.session.require(Permission.RELABEL)
        if self.draft_label is None:
            raise HmiError("choose good or defective first")
        if self.draft_label == "defective" and not self.draft_boxes:
            raise HmiError("a defective part needs at least one box")
        self._store_label(part, self.draft_label, list(self.draft_boxes), user.name, "relabel")
        self.dirty = False
        self.load()

    def bulk_label(self, label: Label) -> int:
        """Label every selected image: 'good' without boxes, 'defective' with the model's boxes."""
        user = self.session.require(Permission.RELABEL)
        done = 0
        for key in sorted(self.selected):
            part = self.db.part(key)
            if part is None:
                continue
            boxes = [] if label == "good" else [b for b in part.detection_boxes() if b.cls in self.classes]
            if label == "defective" and not boxes:
                raise HmiError(f"part {part.part_id} has no detection to keep as a box; label it on its own")
            self._store_label(part, label, boxes, user.name, "bulk_relabel")
            done += 1
        self.load()
        return done

    def _store_label(self, part: PartRecord, label: Label, boxes: list[Box], user: str, action: str) -> None:
        before = _label_state(part.label, part.label_boxes)
        self.db.save_label(part.key, label, boxes, user)
        try:
            self.audit.record(user, action, f"part:{part.camera}:{part.part_id}", before, _label_state(label, boxes))
        except AuditError:
            if part.label is None:
                self.db.clear_label(part.key)
            else:
                self.db.save_label(part.key, part.label, part.label_boxes, user)
            raise

    # -- export ------------------------------------------------------------------------
    def export(self) -> ExportResult:
        user = self.session.require(Permission.EXPORT_DATASET)
        result = export_dataset(self.db.labelled_parts(), self.classes, self.datasets_dir, source=str(self.db.path))
        self.audit.record(
            user.name, "dataset_export", f"dataset:{result.version}", None,
            {"version": result.version, "path": str(result.path), "images": result.images, "train": result.train, "val": result.val},
        )
        self.last_export = result
        self._notify()
        return result
