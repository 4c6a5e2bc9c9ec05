"""Full screen on a kiosk panel, with or without a window manager.

``showFullScreen()`` only asks the window manager for full screen (the
``_NET_WM_STATE_FULLSCREEN`` hint); a panel PC that runs the HMI straight on
X without a window manager leaves the window at its own size (1280 x 800 on
a 1024 x 768 panel: the login keypad's OK key off-screen). So the window also
takes its screen's geometry itself: at the start, when that screen's geometry
changes (a panel plugged in, a resolution set), and when the window or the
primary screen changes to another screen.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject
from PySide6.QtGui import QGuiApplication, QScreen
from PySide6.QtWidgets import QWidget

log = logging.getLogger(__name__)


class ScreenFill(QObject):
    """Keeps ``window`` on the whole of its screen (kept alive as the window's child)."""

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.window = window
        self._screen: QScreen | None = None
        app = QGuiApplication.instance()
        app.primaryScreenChanged.connect(self._primary_changed)
        window.winId()  # the native window exists: its screen can be followed
        window.windowHandle().screenChanged.connect(self._follow)
        self._follow(window.windowHandle().screen() or QGuiApplication.primaryScreen())

    def _primary_changed(self, screen: QScreen) -> None:
        if self._screen is None or self._screen not in QGuiApplication.screens():
            self._follow(screen)  # the old screen went away: the new primary one
        else:
            self.fill()

    def _follow(self, screen: QScreen | None) -> None:
        if self._screen is not None:
            try:
                self._screen.geometryChanged.disconnect(self.fill)
            except (RuntimeError, TypeError):  # the screen is gone already
                pass
        self._screen = screen
        if screen is not None:
            screen.geometryChanged.connect(self.fill)
        self.fill()

    def fill(self, *_: object) -> None:
        screen = self._screen or QGuiApplication.primaryScreen()
        if screen is None:
            return
        geometry = screen.geometry()
        if self.window.geometry() != geometry:
            log.info("the HMI fills its screen %s: %dx%d at %d,%d", screen.name(), geometry.width(), geometry.height(),
                     geometry.x(), geometry.y())
            self.window.setGeometry(geometry)
        self.window.showFullScreen()  # and, where there is a window manager, its full-screen state


def show_full_screen(window: QWidget) -> ScreenFill:
    """Show ``window`` on the whole of its screen, now and whenever the screen changes."""
    return ScreenFill(window)
