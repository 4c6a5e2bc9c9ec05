"""Labels that never cut their text off: wrapped text shortened with "…" (the whole text in its tooltip), or a figure's font shrunk."""

from __future__ import annotations

import re

from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class FittedLabel(QLabel):
    def __init__(self, text: str = "", parent: QWidget | None = None, ellipsis: str = "…") -> None:
        super().__init__(parent)
        self.ellipsis = ellipsis  # what a shortened text ends with ("… tap to read all" where a tap opens it)
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
            if self._fits(text[:middle].rstrip() + self.ellipsis):
                low = middle
            else:
                high = middle - 1
        self.setText(text[:low].rstrip() + self.ellipsis)

    @property
    def shortened(self) -> bool:
        return self.text() != self.full_text


class FittedFigure(QLabel):
    """One line that never cuts a figure off: its font shrinks (down to ``min_px``) until the whole text fits.

    A counter at 999 999 or a part id at 9 999 999 reads whole in a narrow tile; short figures keep the large font.
    """

    def __init__(self, text: str = "", max_px: int = 34, min_px: int = 12, bold: bool = True,
                 css: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.max_px, self.min_px, self.bold, self.css = max_px, min_px, bold, css
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self._px = 0
        self._fit()

    def setText(self, text: str) -> None:  # noqa: N802
        if text == self.text():
            return
        super().setText(text)
        self._fit()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        plain = re.sub(r"<[^>]+>", "", self.text())
        width = self.contentsRect().width() - 2
        font = QFont(self.font())
        font.setBold(self.bold)
        px = self.max_px
        while px > self.min_px and width > 0:
            font.setPixelSize(px)
            if QFontMetrics(font).horizontalAdvance(plain) <= width:
                break
            px -= 1
        if px != self._px:
            self._px = px
            weight = "bold" if self.bold else "normal"
            self.setStyleSheet(f"font-size: {px}px; font-weight: {weight}; {self.css}")
