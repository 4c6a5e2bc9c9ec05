"""Walk a window's widget tree and list what is not whole: overlaps, clipped widgets and text, small touch targets."""

from __future__ import annotations

import re

from PySide6.QtCore import QRect, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QComboBox,
    QLabel,
    QScrollBar,
    QWidget,
)

from hmi.screens.style import BUTTON_GAP_PX, TOUCH_MM, TOUCH_PX


def touch_min_px(widget: QWidget) -> int:
    """15 mm at the screen's DPI, and never less than the documented pixel minimum."""
    return max(TOUCH_PX, round(TOUCH_MM / 25.4 * widget.logicalDpiX()))


def _visible_children(widget: QWidget) -> list[QWidget]:
    return [c for c in widget.findChildren(QWidget, options=Qt.FindDirectChildrenOnly) if c.isVisible() and not c.isWindow()]


def _is_scrolled_content(widget: QWidget) -> bool:
    """The content widget of a scroll area (larger than its viewport on purpose)."""
    parent = widget.parentWidget()
    return parent is not None and parent.objectName() == "qt_scrollarea_viewport"


def _text_fits(label: QLabel) -> bool:
    text = re.sub(r"<[^>]+>", "", label.text())  # rich text: its characters, in the label's font
    if not text or label.pixmap() is not None and not label.pixmap().isNull():
        return True
    rect = label.contentsRect()
    metrics = label.fontMetrics()
    if label.wordWrap():
        return label.heightForWidth(label.width()) <= label.height() + 1
    lines = text.split("\n")
    wide = max(metrics.horizontalAdvance(line) for line in lines)
    return wide <= rect.width() + 1 and metrics.height() * len(lines) <= rect.height() + 2


def _button_text_fits(button: QAbstractButton) -> bool:
    """The text with the button's own padding and border (from the style sheet) fits the button."""
    lines = button.text().split("\n")
    metrics = button.fontMetrics()
    wide = max((metrics.horizontalAdvance(line) for line in lines), default=0)
    if wide + 16 > button.width() or metrics.height() * len(lines) > button.height() - 8:  # padding 4, border 2
        return False
    fixed = button.minimumWidth() == button.maximumWidth()  # sized by the screen, with a 4 px padding
    return fixed or button.sizeHint().width() <= button.width()  # else the style sheet's padding counts too


def _combo_text_fits(combo: QComboBox) -> bool:
    """Every choice shows whole once chosen (beside the padding and the drop-down arrow)."""
    metrics = combo.fontMetrics()
    wide = max((metrics.horizontalAdvance(combo.itemText(i)) for i in range(combo.count())), default=0)
    return wide + 44 <= combo.width()  # padding 8 + border 2 on each side, the arrow 20


def layout_problems(root: QWidget) -> list[str]:
    """Everything in ``root`` (visible) that overlaps a sibling, sticks out of its parent or is cut off."""
    problems: list[str] = []

    def name(w: QWidget) -> str:
        text = w.text().replace("\n", " ") if hasattr(w, "text") and callable(w.text) else ""
        return f"{type(w).__name__}{'(' + repr(text[:30]) + ')' if text else ''}"

    def walk(widget: QWidget) -> None:
        children = _visible_children(widget)
        inner = widget.rect()
        for child in children:
            if not _is_scrolled_content(child) and not inner.contains(child.geometry()):
                problems.append(f"{name(child)} {child.geometry().getRect()} sticks out of {name(widget)} {inner.getRect()}")
        if not isinstance(widget, (QAbstractScrollArea, QComboBox)):  # their parts are laid out by Qt itself
            for i, a in enumerate(children):
                for b in children[i + 1:]:
                    if a.geometry().intersects(b.geometry()):
                        problems.append(f"{name(a)} {a.geometry().getRect()} overlaps {name(b)} {b.geometry().getRect()}")
            buttons = [c for c in children if isinstance(c, QAbstractButton)]
            for i, a in enumerate(buttons):
                for b in buttons[i + 1:]:
                    gap = _gap(a.geometry(), b.geometry())
                    if gap < BUTTON_GAP_PX and not isinstance(widget, QScrollBar):
                        problems.append(f"{name(a)} and {name(b)} are {gap} px apart (< {BUTTON_GAP_PX})")
        if isinstance(widget, QLabel) and not _text_fits(widget):
            problems.append(f"{name(widget)} {widget.size().toTuple()} cuts its text off")
        if isinstance(widget, QComboBox) and not _combo_text_fits(widget):
            problems.append(f"{name(widget)} {widget.size().toTuple()} cuts a choice off")
        if isinstance(widget, QAbstractButton) and not isinstance(widget.parentWidget(), QScrollBar):
            least = touch_min_px(widget)
            if min(widget.width(), widget.height()) < least:
                problems.append(f"{name(widget)} is {widget.width()}x{widget.height()} px, a touch target needs {least}")
            if not _button_text_fits(widget):
                problems.append(f"{name(widget)} {widget.size().toTuple()} cuts its text off")
        for child in children:
            walk(child)

    walk(root)
    return problems


def _gap(a: QRect, b: QRect) -> int:
    dx = max(b.left() - a.right() - 1, a.left() - b.right() - 1, 0)
    dy = max(b.top() - a.bottom() - 1, a.top() - b.bottom() - 1, 0)
    return max(dx, dy)
