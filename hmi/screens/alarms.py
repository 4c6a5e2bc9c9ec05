"""The alarms page (quality engineer, admin): the station's alarm board, acknowledge one, shelve one with a reason.

Each line is one alarm as the board keeps it: standing or returned to normal,
acknowledged or not, shelved until when, by whom and why. Shelving takes a
reason from a short list (touch, no keyboard) and a duration; it ends by
itself, or with "Return from shelf".
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QListWidget, QPushButton, QVBoxLayout, QWidget

from hmi.alarm_text import alarm_sentence
from hmi.alarm_vm import AlarmBoardView, alarm_record
from hmi.screens.style import BUTTON_GAP_PX, kinetic
from inspector.errors import InspectorError
from inspector.messages import AlarmEntry

ErrorSink = Callable[[Exception], None]
SHELVE_REASONS = ("Maintenance on this equipment", "Known fault, repair scheduled", "Nuisance alarm under review",
                  "Commissioning or trial")
SHELVE_HOURS = (1.0, 4.0, 8.0)
COMBO_CHROME_PX = 64  # a combo box's padding, border and drop-down arrow in the HMI's style


def entry_line(entry: AlarmEntry, now: float) -> str:
    """One alarm as the page lists it."""
    state = "STANDING" if entry.active else ("EVENT" if entry.kind == "event" else "cleared")
    flags = []
    if entry.count > 1:
        flags.append(f"{entry.count}×")
    if entry.acked:
        flags.append(f"acknowledged by {entry.acked_by}")
    if entry.shelved(now):
        flags.append(f"shelved by {entry.shelved_by} until {time.strftime('%H:%M', time.localtime(entry.shelved_until))}: "
                     f"{entry.shelve_reason}")
    clock = time.strftime("%H:%M:%S", time.localtime(entry.t_raised))
    return f"{clock}  {entry.severity.upper()} {state}  {alarm_sentence(alarm_record(entry))}" + (
        f"  ({'; '.join(flags)})" if flags else "")


class AlarmsScreen(QWidget):
    def __init__(self, vm: AlarmBoardView, on_error: ErrorSink, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        self.on_error = on_error
        self.entries: list[AlarmEntry] = []
        root = QVBoxLayout(self)
        root.setSpacing(BUTTON_GAP_PX)
        self.summary = QLabel("")
        self.summary.setStyleSheet("font-size: 18px; font-weight: bold; color: #b0bec5;")
        root.addWidget(self.summary)
        self.list = QListWidget()
        self.list.setWordWrap(True)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.list.setStyleSheet("font-size: 16px;")
        kinetic(self.list)
        root.addWidget(self.list, 1)
        self.ack_button = QPushButton("Acknowledge")
        self.ack_button.clicked.connect(self._acknowledge)
        self.unshelve_button = QPushButton("Return from shelf")
        self.unshelve_button.clicked.connect(self._unshelve)
        self.reason = QComboBox()
        self.reason.addItems(SHELVE_REASONS)
        self.hours = QComboBox()
        self.hours.addItems([f"{h:g} h" for h in SHELVE_HOURS])
        self.shelve_button = QPushButton("Shelve")
        self.shelve_button.clicked.connect(self._shelve)
        for row in ((self.ack_button, self.unshelve_button), (self.reason, self.hours, self.shelve_button)):
            actions = QHBoxLayout()  # two rows: every choice whole at 1024 px
            actions.setSpacing(BUTTON_GAP_PX)
            for widget in row:
                actions.addWidget(widget)
            actions.addStretch(1)
            root.addLayout(actions)
        self._shown: list[str] = []

    def _fit_choices(self) -> None:
        """Every choice whole, beside the padding and the arrow (measured in the font the window's style gives)."""
        for combo in (self.reason, self.hours):
            widest = max(combo.fontMetrics().horizontalAdvance(combo.itemText(i)) for i in range(combo.count()))
            if combo.minimumWidth() != widest + COMBO_CHROME_PX:
                combo.setMinimumWidth(widest + COMBO_CHROME_PX)

    def showEvent(self, event) -> None:  # noqa: N802
        self._fit_choices()
        super().showEvent(event)

    def reload(self) -> None:
        now = self.vm.clock()
        self.vm.refresh()
        entries = sorted(self.vm.entries, key=lambda e: (not e.active, e.severity != "critical", -e.t_raised))
        lines = [entry_line(e, now) for e in entries]
        standing = sum(e.standing(now) for e in entries)
        summary = f"{standing} standing · {len(self.vm.shown())} to acknowledge · {len(self.vm.shelved())} shelved"
        if self.vm.problem:
            summary += f" · {self.vm.problem}"
        if lines == self._shown and summary == self.summary.text():
            return  # nothing changed: no Qt call (the page is refreshed every second)
        row = self.list.currentRow()
        self.entries, self._shown = entries, lines
        self.summary.setText(summary)
        self.list.clear()
        self.list.addItems(lines or ["no alarm on the board"])
        if 0 <= row < len(lines):
            self.list.setCurrentRow(row)

    def selected(self) -> AlarmEntry:
        row = self.list.currentRow()
        if not 0 <= row < len(self.entries):
            raise InspectorError("tap an alarm in the list first")
        return self.entries[row]

    def _act(self, action: Callable[[], object]) -> None:
        try:
            action()
        except InspectorError as err:
            self.on_error(err)

    def _acknowledge(self) -> None:
        self._act(lambda: self.vm.acknowledge(self.selected()))

    def _shelve(self) -> None:
        self._act(lambda: self.vm.shelve(self.selected(), self.reason.currentText(), SHELVE_HOURS[self.hours.currentIndex()]))

    def _unshelve(self) -> None:
        self._act(lambda: self.vm.unshelve(self.selected()))
