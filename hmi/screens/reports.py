"""The reports screen: the generated shift and monthly reports (open one, or see where it is), and "Escape reported"."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from hmi.reports_vm import ReportsViewModel
from hmi.screens.style import BUTTON_GAP_PX, TOUCH_PX, kinetic
from inspector.errors import InspectorError

ErrorSink = Callable[[Exception], None]
Opener = Callable[[Path], bool]
FORM_W = 400
ANY_CAMERA = "any camera"


def open_with_desktop(path: Path) -> bool:
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


def _field(placeholder: str) -> QLineEdit:
    edit = QLineEdit()
    edit.setPlaceholderText(placeholder)
    edit.setFixedHeight(TOUCH_PX)
    edit.setStyleSheet("font-size: 18px; background: #37474f; border: 2px solid #607d8b; border-radius: 8px; padding: 0 8px;")
    return edit


class ReportsScreen(QWidget):
    def __init__(self, vm: ReportsViewModel, on_error: ErrorSink, cameras: list[str], opener: Opener = open_with_desktop,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        self.on_error = on_error
        self.opener = opener
        root = QHBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        root.setSpacing(2 * BUTTON_GAP_PX)

        left = QVBoxLayout()
        left.setSpacing(BUTTON_GAP_PX)
        title = QLabel("Shift and monthly reports")
        title.setStyleSheet("font-size: 18px; font-weight: bold; color: #b0bec5;")
        left.addWidget(title)
        self.list = QListWidget()
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.ElideRight)
        kinetic(self.list)
        self.list.currentRowChanged.connect(lambda _row: self._show_where())
        left.addWidget(self.list, 1)
        row = QHBoxLayout()
        row.setSpacing(BUTTON_GAP_PX)
        self.open_pdf = QPushButton("Open PDF")
        self.open_html = QPushButton("Open HTML")
        self.open_pdf.clicked.connect(lambda: self._open("pdf"))
        self.open_html.clicked.connect(lambda: self._open("html"))
        row.addWidget(self.open_pdf)
        row.addWidget(self.open_html)
        row.addStretch(1)
        left.addLayout(row)
        self.where = QLabel("")
        self.where.setWordWrap(True)
        self.where.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.where.setStyleSheet("font-size: 15px;")
        left.addWidget(self.where)
        root.addLayout(left, 1)

        form = QVBoxLayout()
        form.setSpacing(BUTTON_GAP_PX)
        heading = QLabel("Escape reported")
        heading.setStyleSheet("font-size: 18px; font-weight: bold; color: #b0bec5;")
        form.addWidget(heading)
        hint = QLabel("A defective part that passed and was found downstream: its part id, or when it was made.")
        hint.setWordWrap(True)
        hint.setStyleSheet("font-size: 15px; color: #b0bec5;")
        form.addWidget(hint)
        grid = QGridLayout()
        grid.setSpacing(BUTTON_GAP_PX)
        self.part = _field("part id")
        self.when = _field("or time: 2026-11-12 14:30")
        self.camera = QComboBox()
        self.camera.addItems([ANY_CAMERA, *cameras])
        self.defect = QComboBox()
        self.defect.addItems(vm.classes)
        self.defect.setCurrentIndex(-1)
        self.defect.setPlaceholderText("defect class")
        self.note = _field("note (who found it, where)")
        for i, widget in enumerate((self.part, self.when, self.camera, self.defect, self.note)):
            grid.addWidget(widget, i, 0)
        form.addLayout(grid)
        self.record = QPushButton("Record escape")
        self.record.setStyleSheet("background: #8e2424;")
        self.record.clicked.connect(self._record)
        form.addWidget(self.record)
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.result.setStyleSheet("font-size: 15px;")
        form.addWidget(self.result)
        form.addStretch(1)
        form_host = QWidget()
        form_host.setLayout(form)
        form_host.setFixedWidth(FORM_W)
        root.addWidget(form_host)
        vm.on_change(self.render)

    def reload(self) -> None:
        self.vm.load()

    def render(self) -> None:
        chosen = self.list.currentRow()
        self.list.blockSignals(True)
        self.list.clear()
        for e in self.vm.reports:
            kind = "Shift" if e.kind == "shift" else "Month"
            item = QListWidgetItem(f"{kind} {e.label} · {', '.join(e.stations)}\n{e.inspected} parts · reject rate "
                                   f"{100 * e.reject_rate:.1f} % · false rejects {100 * e.false_reject_rate:.2f} %")
            item.setToolTip(f"generated {time.strftime('%Y-%m-%d %H:%M', time.localtime(e.generated))}")
            self.list.addItem(item)
        self.list.blockSignals(False)
        if self.vm.reports:
            self.list.setCurrentRow(min(max(chosen, 0), len(self.vm.reports) - 1))
        self._show_where()
        escape = self.vm.last_escape
        if escape is not None:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(escape["t"]))
            part = f"part {escape['part_id']}" if escape["part_id"] is not None else "a part"
            self.result.setText(f"✔ recorded: {part} made {when}, {escape['defect']}; it counts in that shift's report")

    def _entry(self):
        row = self.list.currentRow()
        return self.vm.reports[row] if 0 <= row < len(self.vm.reports) else None

    def _show_where(self) -> None:
        entry = self._entry()
        has = entry is not None
        self.open_pdf.setEnabled(has)
        self.open_html.setEnabled(has)
        self.where.setText(self.vm.problem if not has else f"{self.vm.folder / entry.pdf}\n{self.vm.folder / entry.html}")

    def _open(self, kind: str) -> None:
        entry = self._entry()
        if entry is None:
            return
        try:
            path = self.vm.path_of(entry, kind)
        except InspectorError as err:
            self.on_error(err)
            return
        if not self.opener(path):
            self.on_error(InspectorError(f"no viewer could open {path}; copy it from there"))
            self.where.setText(f"not opened here; the file is {path}")
            return
        self.where.setText(f"opened {path}")

    def _record(self) -> None:
        camera = self.camera.currentText()
        try:
            self.vm.report_escape(self.part.text(), self.when.text(), "" if camera == ANY_CAMERA else camera,
                                  self.defect.currentText(), self.note.text())
        except InspectorError as err:
            self.on_error(err)
            self.result.setText(f"not recorded: {err}")
            return
        for edit in (self.part, self.when, self.note):
            edit.clear()
