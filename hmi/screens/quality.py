"""The quality screen: the model, drift, reports and alarms pages behind touch tabs (quality engineer, admin)."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtWidgets import (
    QHBoxLayout,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from hmi.context import HmiContext
from hmi.screens.alarms import AlarmsScreen
from hmi.screens.drift import DriftScreen
from hmi.screens.models import ModelScreen
from hmi.screens.reports import ReportsScreen, open_with_desktop
from hmi.screens.style import BUTTON_GAP_PX
from inspector.errors import InspectorError

ErrorSink = Callable[[Exception], None]
PAGES = ("models", "drift", "reports", "alarms")
DRIFT_REFRESH_S = 5.0  # the drift page re-reads its series and alarms this often while shown
TITLES = {"models": "Models", "drift": "Drift", "reports": "Reports · escapes", "alarms": "Alarms"}


class QualityScreen(QWidget):
    def __init__(self, ctx: HmiContext, on_error: ErrorSink, cameras: list[str], opener=open_with_desktop,
                 on_review=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.on_error = on_error
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(BUTTON_GAP_PX)
        tabs = QHBoxLayout()
        tabs.setSpacing(BUTTON_GAP_PX)
        self.tabs: dict[str, QPushButton] = {}
        for name in PAGES:
            button = QPushButton(TITLES[name])
            button.setCheckable(True)
            button.clicked.connect(lambda _=False, n=name: self.open_page(n))
            tabs.addWidget(button)
            self.tabs[name] = button
        tabs.addStretch(1)
        layout.addLayout(tabs)
        self.stack = QStackedWidget()
        self.models = ModelScreen(ctx.models, on_error, on_review)
        self.drift = DriftScreen(ctx.drift, on_error)
        self.reports = ReportsScreen(ctx.reports, on_error, cameras, opener)
        self.alarms = AlarmsScreen(ctx.operator.alarms, on_error)
        self.pages = {"models": self.models, "drift": self.drift, "reports": self.reports, "alarms": self.alarms}
        for page in self.pages.values():
            self.stack.addWidget(page)
        layout.addWidget(self.stack, 1)
        self.page = "models"
        self._drift_read = 0.0

    def open_page(self, name: str) -> bool:
        try:
            self.pages[name].reload()
        except InspectorError as err:
            self.on_error(err)
            self.tabs[name].setChecked(name == self.page)
            return False
        self.page = name
        self.stack.setCurrentWidget(self.pages[name])
        for other, button in self.tabs.items():
            button.setChecked(other == name)
        return True

    def reload(self) -> None:
        """Re-read the page shown (on opening the screen)."""
        self.pages[self.page].reload()

    def refresh(self) -> None:
        """The window's refresh: the alarms page follows the board every second, the drift page every few seconds."""
        if self.page == "alarms":
            self.alarms.reload()
            return
        now = time.monotonic()
        if self.page == "drift" and now - self._drift_read >= DRIFT_REFRESH_S:
            self._drift_read = now
            self.drift.reload()
