"""The review screen (quality engineer): filtered queue, relabel with boxes, bulk labels, dataset export."""

from __future__ import annotations

import time
from typing import Callable

from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox, QGridLayout, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget,
)

from hmi.review_vm import ReviewViewModel
from hmi.screens.image_view import BoxEditor
from hmi.screens.style import BUTTON_GAP_PX, RESULT_TEXT, kinetic
from inspector.errors import InspectorError
from inspector.records.parts import ReviewFilter

ErrorSink = Callable[[Exception], None]
# each entry says what it filters, so the combos need no labels beside them
TIME_RANGES = {"last hour": 3600.0, "last 8 hours": 8 * 3600.0, "last 24 hours": 24 * 3600.0, "any time": None}
VERDICTS = {"any verdict": "all", "rejects": "reject", "fail-safe": "failsafe", "sampled passes": "pass",
            "least certain": "uncertain"}  # triage: scores closest to a threshold first
REVIEWED = {"reviewed or not": None, "not reviewed": False, "reviewed": True}
ANY_CLASS = "any class"
QUEUE_W, TOOLS_W = 380, 270  # the image editor gets the rest (at least 320 px at 1024 x 768)


def _filter_combo(choices: list[str], current: str) -> QComboBox:
    combo = QComboBox()
    for choice in choices:
        combo.addItem(choice, choice)
    combo.setCurrentIndex(choices.index(current))
    combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(8)
    return combo


class ReviewScreen(QWidget):
    def __init__(self, vm: ReviewViewModel, on_error: ErrorSink, clock: Callable[[], float] = time.time, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        self.on_error = on_error
        self.clock = clock
        root = QHBoxLayout(self)

        left = QVBoxLayout()
        left.setContentsMargins(0, 0, 0, 0)
        left.setSpacing(BUTTON_GAP_PX)
        form = QGridLayout()  # two by two, each combo naming its filter: the queue keeps the height
        form.setSpacing(BUTTON_GAP_PX)
        self.time_filter = _filter_combo(list(TIME_RANGES), "any time")
        self.class_filter = _filter_combo([ANY_CLASS, *vm.classes], ANY_CLASS)
        self.verdict_filter = _filter_combo(list(VERDICTS), "any verdict")
        self.reviewed_filter = _filter_combo(list(REVIEWED), "reviewed or not")
        for i, combo in enumerate((self.time_filter, self.class_filter, self.verdict_filter, self.reviewed_filter)):
            form.addWidget(combo, i // 2, i % 2)
            combo.currentIndexChanged.connect(lambda _=0: self._guard(self.reload))
        left.addLayout(form)
        self.queue = QListWidget()
        self.queue.setStyleSheet("QListWidget::indicator { width: 36px; height: 36px; }")
        self.queue.setVerticalScrollMode(QListWidget.ScrollPerPixel)
        self.queue.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)  # a long class list is elided, not scrolled
        self.queue.setTextElideMode(Qt.ElideRight)
        kinetic(self.queue)  # swipe the queue with a (gloved) finger
        self.queue.currentItemChanged.connect(lambda item, _prev: item is not None and self._guard(lambda: self.vm.open(tuple(item.data(Qt.UserRole)))))
        self.queue.itemChanged.connect(lambda _item: self._sync_selection())
        left.addWidget(self.queue, 1)
        left.addWidget(QLabel("Ticked images:"))
        bulk = QHBoxLayout()
        bulk.setSpacing(BUTTON_GAP_PX)
        self.select_all = QPushButton("Tick all")
        self.select_all.clicked.connect(self._tick_all)
        self.bulk_good = QPushButton("Good")
        self.bulk_good.clicked.connect(lambda: self._guard(lambda: self.vm.bulk_label("good")))
        self.bulk_defective = QPushButton("Defect")
        self.bulk_defective.clicked.connect(lambda: self._guard(lambda: self.vm.bulk_label("defective")))
        for button in (self.select_all, self.bulk_good, self.bulk_defective):
            bulk.addWidget(button)
        left.addLayout(bulk)
        left_host = QWidget()
        left_host.setLayout(left)
        left_host.setFixedWidth(QUEUE_W)
        root.addWidget(left_host)

        self.editor = BoxEditor(self._on_add, self._on_move)
        root.addWidget(self.editor, 1)

        right = QVBoxLayout()
        right.setContentsMargins(0, 0, 0, 0)
        right.setSpacing(BUTTON_GAP_PX)
        self.info = QLabel("pick an image from the queue")
        self.info.setWordWrap(True)
        right.addWidget(self.info)
        label_row = QHBoxLayout()
        label_row.setSpacing(BUTTON_GAP_PX)
        self.good = QPushButton("Good")
        self.defective = QPushButton("Defective")
        for button, label in ((self.good, "good"), (self.defective, "defective")):
            button.setCheckable(True)
            button.clicked.connect(lambda _=False, lab=label: self._guard(lambda: self.vm.set_label(lab)))
            label_row.addWidget(button)
        right.addLayout(label_row)
        class_label = QLabel("Class of a new or selected box")
        class_label.setWordWrap(True)
        right.addWidget(class_label)
        self.box_class = QComboBox()
        self.box_class.addItems(vm.classes)
        self.box_class.activated.connect(lambda _=0: self._set_selected_class())
        right.addWidget(self.box_class)
        hint = QLabel("Drag on the image to draw a box; drag a box to move it; tap a box to select it.")
        hint.setWordWrap(True)
        hint.setStyleSheet("font-size: 15px; color: #b0bec5;")
        right.addWidget(hint)
        self.delete_box = QPushButton("Delete box")
        self.delete_box.clicked.connect(self._delete_selected)
        right.addWidget(self.delete_box)
        self.save = QPushButton("Save label")
        self.save.setStyleSheet("background: #1b5e20;")
        self.save.clicked.connect(lambda: self._guard(self.vm.save))
        right.addWidget(self.save)
        right.addStretch(1)
        self.export = QPushButton("Export dataset")
        self.export.clicked.connect(lambda: self._guard(self.vm.export))
        right.addWidget(self.export)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("font-size: 15px;")
        right.addWidget(self.status)
        right_host = QWidget()
        right_host.setLayout(right)
        right_host.setFixedWidth(TOOLS_W)
        root.addWidget(right_host)

        self._rendered_queue: list | None = None
        vm.on_change(self.render)

    # -- the filter ---------------------------------------------------------------------
    def current_filter(self) -> ReviewFilter:
        span = TIME_RANGES[self.time_filter.currentData()]
        cls = self.class_filter.currentData()
        return ReviewFilter(
            since=None if span is None else self.clock() - span,
            cls=None if cls == ANY_CLASS else cls,
            verdict=VERDICTS[self.verdict_filter.currentData()],
            reviewed=REVIEWED[self.reviewed_filter.currentData()],
        )

    def reload(self) -> None:
        self.vm.load(self.current_filter())

    # -- rendering ------------------------------------------------------------------
    def render(self) -> None:
        vm = self.vm
        state = [(p.key, p.label) for p in vm.queue] + [vm.filter.verdict]
        if state != self._rendered_queue:
            self._rendered_queue = state
            self.queue.blockSignals(True)
            self.queue.clear()
            for part in vm.queue:
                when = time.strftime("%H:%M:%S", time.localtime(part.t_trigger))
                classes = ",".join(sorted({d["cls"] for d in part.detections})) or "-"
                reviewed = f"✔ {part.label}" if part.label else "not reviewed"
                unsure = vm.uncertainty.get(part.key) if vm.filter.verdict == "uncertain" else None
                if unsure is not None:  # triage: how close the model came to deciding otherwise
                    reviewed = f"{unsure.cls} {unsure.score:.2f} vs {unsure.threshold:.2f}"
                item = QListWidgetItem(f"#{part.part_id} {RESULT_TEXT.get(part.result, part.result)} · {classes}\n{when} · {reviewed}")
                item.setData(Qt.UserRole, part.key)
                item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
                item.setCheckState(Qt.Checked if part.key in vm.selected else Qt.Unchecked)
                self.queue.addItem(item)
                if vm.current is not None and part.key == vm.current.key:
                    self.queue.setCurrentItem(item)
            self.queue.blockSignals(False)
        part = vm.current
        if part is None:
            self.editor.show_part(None, [])
        else:
            self.editor.show_part(part.image_path, vm.draft_boxes, self.editor.selected_index())
            saved = f"saved: {part.label}" if part.label else "not reviewed yet"
            dirty = " · unsaved changes" if vm.dirty else ""
            self.info.setText(f"Part {part.part_id} ({part.camera})\nline: {RESULT_TEXT.get(part.result, part.result)}\nmodel: {part.model_version or '-'}\n{saved}{dirty}")
        self.good.setChecked(vm.draft_label == "good")
        self.defective.setChecked(vm.draft_label == "defective")
        if vm.last_export is not None:
            e = vm.last_export
            self.status.setText(f"Exported {e.version}: {e.images} images ({e.train} train, {e.val} val) to {e.path}")

    # -- actions --------------------------------------------------------------------
    def _guard(self, action: Callable[[], object]) -> None:
        try:
            action()
        except InspectorError as err:
            self.on_error(err)

    def _on_add(self, rect: QRectF) -> None:
        box = (rect.left(), rect.top(), rect.right(), rect.bottom())
        QTimer.singleShot(0, lambda: self._guard(lambda: self.vm.add_box(self.box_class.currentText(), box)))

    def _on_move(self, index: int, rect: QRectF) -> None:
        box = (rect.left(), rect.top(), rect.right(), rect.bottom())
        QTimer.singleShot(0, lambda: self._guard(lambda: self.vm.move_box(index, box)))

    def _set_selected_class(self) -> None:
        index = self.editor.selected_index()
        if index is not None:
            self._guard(lambda: self.vm.set_box_class(index, self.box_class.currentText()))

    def _delete_selected(self) -> None:
        index = self.editor.selected_index()
        if index is None:
            self.on_error(InspectorError("select a box first (tap it)"))
            return
        self._guard(lambda: self.vm.delete_box(index))

    def _sync_selection(self) -> None:
        keys = {tuple(self.queue.item(i).data(Qt.UserRole)) for i in range(self.queue.count()) if self.queue.item(i).checkState() == Qt.Checked}
        self.vm.selected = keys

    def _tick_all(self) -> None:
        for i in range(self.queue.count()):
            self.queue.item(i).setCheckState(Qt.Checked)
