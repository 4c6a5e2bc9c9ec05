"""The HMI window: a top bar (screens, user), the login, operator, review and quality screens, and its timers."""

from __future__ import annotations

import logging
import os
import sys

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import (
    QApplication, QHBoxLayout, QLabel, QMainWindow, QPushButton, QSizePolicy, QStackedWidget, QVBoxLayout, QWidget,
)

from hmi.context import HmiContext
from hmi.kiosk import show_full_screen
from hmi.roles import ROLE_TITLES, AccessDenied, Permission
from hmi.screens.login import LoginScreen
from hmi.screens.operator import OperatorScreen
from hmi.screens.review import ReviewScreen
from hmi.screens.style import BUTTON_GAP_PX, STYLESHEET, TOUCH_PX
from inspector.errors import InspectorError
from inspector.systemd_notify import SystemdNotifier

log = logging.getLogger(__name__)

SCREEN_PERMISSIONS = {"operator": Permission.VIEW_OPERATOR, "review": Permission.VIEW_REVIEW,
                      "quality": Permission.VIEW_QUALITY}
USER_LABEL_W = 200
HEARTBEAT_MS = 500
_ACTIVITY = {QEvent.MouseButtonPress, QEvent.KeyPress, QEvent.TouchBegin}


class HmiWindow(QMainWindow):
    def __init__(self, ctx: HmiContext, poll_ms: int = 100, refresh_ms: int = 1000) -> None:
        super().__init__()
        self.ctx = ctx
        self.setWindowTitle(f"Inspector · {ctx.station}")
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(6, 6, 6, 6)
        bar = QHBoxLayout()
        bar.setSpacing(BUTTON_GAP_PX)
        title = QLabel(f"Inspector · {ctx.station}")
        title.setStyleSheet("font-size: 22px; font-weight: bold;")
        title.setMaximumWidth(300)
        bar.addWidget(title)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignCenter)
        self.message.setStyleSheet("font-size: 16px; color: #ffab91;")
        self.message.setFixedHeight(TOUCH_PX)  # a long message wraps inside the bar, never pushes the screen down
        self.message.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        bar.addWidget(self.message, 1)
        self.operator_button = QPushButton("Operator")
        self.review_button = QPushButton("Review")
        self.operator_button.clicked.connect(lambda: self.open_screen("operator"))
        self.review_button.clicked.connect(lambda: self.open_screen("review"))
        self.quality_button = QPushButton("Quality")  # models, drift, reports and escapes
        self.quality_button.clicked.connect(lambda: self.open_screen("quality"))
        self.quality_button.setVisible(ctx.models is not None)
        self.user_label = QLabel("")
        self.user_label.setFixedWidth(USER_LABEL_W)  # the buttons stay put whatever the user's name
        self.user_label.setStyleSheet("font-size: 17px;")
        self.user_label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        self.logout_button = QPushButton("Log out")
        self.logout_button.clicked.connect(self.logout)
        for widget in (self.operator_button, self.review_button, self.quality_button, self.user_label, self.logout_button):
            bar.addWidget(widget)
        column.addLayout(bar)
        self.stack = QStackedWidget()
        self.login = LoginScreen(ctx.users.users, self._login)
        self.operator = OperatorScreen(ctx.operator, self.show_error)
        self.review = ReviewScreen(ctx.review, self.show_error)
        self.screens = {"login": self.login, "operator": self.operator, "review": self.review}
        if ctx.models is not None:
            from hmi.screens.quality import QualityScreen

            self.quality = QualityScreen(ctx, self.show_error, [c.name for c in ctx.models.config.cameras],
                                         on_review=self.review_part)
            self.screens["quality"] = self.quality
        for screen in self.screens.values():
            self.stack.addWidget(screen)
        column.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self.setStyleSheet(STYLESHEET)
        self._clear_message = QTimer(self, singleShot=True, interval=8000, timeout=lambda: self.message.setText(""))

        self.poll_timer = QTimer(self, interval=poll_ms, timeout=self.poll_events)
        self.refresh_timer = QTimer(self, interval=refresh_ms, timeout=self.refresh)
        self.idle_timer = QTimer(self, interval=1000, timeout=self.check_idle)
        # heartbeats from the event loop itself: a supervisor running the HMI restarts it when it dies or freezes
        self.beat_timer = QTimer(self, interval=HEARTBEAT_MS, timeout=self.beat)
        for timer in (self.poll_timer, self.refresh_timer, self.idle_timer, self.beat_timer):
            timer.start()
        QApplication.instance().installEventFilter(self)
        ctx.operator.refresh()
        self.show_screen("login")

    # -- navigation ---------------------------------------------------------------------
    def current_screen(self) -> str:
        return next(name for name, screen in self.screens.items() if screen is self.stack.currentWidget())

    def open_screen(self, name: str) -> bool:
        """Show ``name`` if the logged-in user's role allows it; say why not otherwise."""
        try:
            self.ctx.session.require(SCREEN_PERMISSIONS[name])
        except AccessDenied as err:
            self.show_error(err)
            if self.ctx.session.user is None:
                self.show_screen("login")
            return False
        if name in ("review", "quality"):
            try:
                self.screens[name].reload()
            except InspectorError as err:
                self.show_error(err)
                return False
        self.show_screen(name)
        return True

    def review_part(self, key: tuple[str, int]) -> bool:
        """Open the review screen on one part (a shadow disagreement, say), if the recorder kept its image."""
        part = self.ctx.db.part(key)
        if part is None or not part.image_path:
            why = part.image_note if part is not None and part.image_note else "the recorder kept no image of it (passes are sampled)"
            self.show_error(InspectorError(
                f"part {key[1]} ({key[0]}): {why}, so it cannot be labelled on the review screen; its image is on the "
                "model page"))
            return False
        if not self.open_screen("review"):
            return False
        try:
            self.ctx.review.open(key)
        except InspectorError as err:
            self.show_error(err)
            return False
        return True

    def show_screen(self, name: str) -> None:
        self.stack.setCurrentWidget(self.screens[name])
        self._update_bar()

    def _update_bar(self) -> None:
        session = self.ctx.session
        user = session.user
        lines = [user.name, ROLE_TITLES[user.role]] if user else ["not logged in"]
        self.user_label.setToolTip(" · ".join(lines))
        metrics = self.user_label.fontMetrics()
        self.user_label.setText("\n".join(metrics.elidedText(line, Qt.ElideMiddle, USER_LABEL_W - 8) for line in lines))
        self.logout_button.setEnabled(user is not None)
        self.operator_button.setEnabled(session.can(Permission.VIEW_OPERATOR))
        self.review_button.setEnabled(session.can(Permission.VIEW_REVIEW))
        self.quality_button.setEnabled(session.can(Permission.VIEW_QUALITY))
        current = self.current_screen()
        for button, screen in ((self.operator_button, "operator"), (self.review_button, "review"), (self.quality_button, "quality")):
            button.setCheckable(True)
            button.setChecked(current == screen)

    # -- session --------------------------------------------------------------------
    def _login(self, name: str, pin: str) -> str | None:
        try:
            user = self.ctx.session.login(name, pin)
        except InspectorError as err:
            return str(err)
        self.message.setText("")
        log.info("%s logged in as %s", user.name, user.role)
        self.open_screen("operator")
        return None

    def logout(self) -> None:
        self.ctx.session.logout()
        self.login.reload()
        self.show_screen("login")

    def check_idle(self) -> None:
        if self.ctx.session.expire_if_idle():
            self.login.reload()
            self.show_screen("login")
            self.message.setText("Logged out after inactivity")

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() in _ACTIVITY:
            self.ctx.session.touch()
        return False

    # -- the line -------------------------------------------------------------------
    def beat(self) -> None:
        if self.ctx.feed is not None:
            self.ctx.feed.beat()

    def poll_events(self) -> None:
        if self.ctx.feed is not None:
            self.ctx.operator.handle(self.ctx.feed.drain())

    def refresh(self) -> None:
        self.ctx.operator.refresh()
        if self.current_screen() == "quality":
            try:
                self.quality.refresh()
            except InspectorError as err:
                self.show_error(err)

    def show_error(self, err: Exception) -> None:
        log.warning("%s", err)
        self.message.setText(str(err))
        self._clear_message.start()

    def closeEvent(self, event) -> None:  # noqa: N802
        for timer in (self.poll_timer, self.refresh_timer, self.idle_timer, self.beat_timer):
            timer.stop()
        QApplication.instance().removeEventFilter(self)
        super().closeEvent(event)


def qt_application() -> QApplication:
    """The process's QApplication, on PySide6's own platform plugins.

    opencv-python (pulled in by the training packages) points ``QT_QPA_PLATFORM_PLUGIN_PATH``
    at the Qt plugins it bundles when ``cv2`` is imported; those do not load beside PySide6.
    """
    for name in ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR"):
        if f"{os.sep}cv2{os.sep}" in os.environ.get(name, ""):
            log.debug("ignoring %s=%s (set by OpenCV)", name, os.environ.pop(name))
    return QApplication.instance() or QApplication(sys.argv[:1])


def run_window(ctx: HmiContext, size: tuple[int, int] = (1280, 800), fullscreen: bool = False) -> int:
    """Show the HMI until its window is closed; returns the exit code."""
    app = qt_application()
    window = HmiWindow(ctx)
    if fullscreen:  # a kiosk panel: the whole screen, with or without a window manager
        window.screen_fill = show_full_screen(window)
    else:
        window.resize(*size)
        window.show()
    # under systemd (inspector-hmi.service): ready once the event loop shows the window; a watchdog ping from that loop
    systemd = SystemdNotifier.from_environment()
    QTimer.singleShot(0, lambda: systemd.ready(f"HMI of {ctx.station} shown"))
    ping = QTimer(window, interval=max(100, int(systemd.watchdog_interval_s * 500)), timeout=systemd.watchdog)
    if systemd.watchdog_enabled:
        ping.start()
    try:
        return app.exec()
    finally:
        ctx.close()
