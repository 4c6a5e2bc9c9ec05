"""Change notification for view-models, without Qt: screens register a listener and redraw."""

from __future__ import annotations

from typing import Callable


class Observable:
    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()
