"""A label that never cuts its text off: wrapped text is shortened with "…" to fit its box, the whole text in its tooltip."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class FittedLabel(QLabel):
    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Ignored)
        self.full_text = ""
        self.set_full_text(text)

    def set_full_text(self, text: str) -> None:
        if text == self.full_text and self.text():
            return  # unchanged (renders come every 100 ms); a resize fits it again
        self.full_text = text
        self.setToolTip(text)
        self._fit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fits(self, text: str) -> bool:
        self.setText(text)
        return self.heightForWidth(self.width()) <= self.contentsRect().height()

    def _fit(self) -> None:
        text = self.full_text
        if self.width() <= 0 or self._fits(text):
            return
        low, high = 0, len(text)  # the longest prefix (plus "…") that fits
        while low < high:
            middle = (low + high + 1) // 2
            if self._fits(text[:middle].rstrip() + "…"):
                low = middle
            else:
                high = middle - 1
        self.setText(text[:low].rstrip() + "…")
