"""Look of the HMI: large type and touch targets for gloved hands, and swipe scrolling."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QPushButton,
    QScroller,
    QScrollerProperties,
)

#: every touch target is at least this many pixels in both directions: 15 mm on a panel of up to
#: 108 dpi (15 mm = 0.59 in; 0.59 x 108 = 64); the layout test checks it at the screen's own DPI too
TOUCH_PX = 64
TOUCH_MM = 15.0
#: gap between neighbouring touch targets and between cards
BUTTON_GAP_PX = 10
CARD_GAP_PX = 12
#: smallest text on a box label in the review editor (screen pixels, whatever the image's zoom)
BOX_LABEL_PX = 18


def fixed_button(button: QPushButton, width: int, height: int, css: str = "") -> None:
    """Give ``button`` a fixed size that the style sheet cannot change (its padding 4 px, border 2 px)."""
    w, h = width - 12, height - 12
    button.setStyleSheet(f"padding: 4px; min-width: {w}px; max-width: {w}px; min-height: {h}px; max-height: {h}px; {css}")
    button.setFixedSize(width, height)


def kinetic(area: QAbstractScrollArea) -> QScroller:
    """Swipe to scroll ``area`` with a finger (touch) or a mouse drag, with momentum; taps still reach buttons."""
    QScroller.grabGesture(area.viewport(), QScroller.LeftMouseButtonGesture)
    scroller = QScroller.scroller(area.viewport())
    properties = scroller.scrollerProperties()
    # a press reaches the button under the finger at once (not replayed later), so a tap never gets lost
    properties.setScrollMetric(QScrollerProperties.MousePressEventDelay, 0.0)
    properties.setScrollMetric(QScrollerProperties.OvershootDragResistanceFactor, 0.1)
    properties.setScrollMetric(QScrollerProperties.OvershootScrollDistanceFactor, 0.1)
    scroller.setScrollerProperties(properties)
    return scroller

COLORS = {
    "PASS": "#1b8a3a",
    "REJECT": "#c62828",
    "FAILSAFE_REJECT": "#e65100",
    "FAILSAFE_PASS": "#8d6e00",
    "none": "#546e7a",
}
LIGHT_COLORS = {"ok": "#2e7d32", "warn": "#f9a825", "fault": "#c62828", "idle": "#78909c", "stale": "#616161"}
RESULT_TEXT = {"PASS": "PASS", "REJECT": "REJECT", "FAILSAFE_REJECT": "FAIL-SAFE REJECT", "FAILSAFE_PASS": "FAIL-SAFE PASS"}

STYLESHEET = f"""
QWidget {{ font-size: 20px; color: #eceff1; background: #263238; }}
QPushButton {{
    min-height: {TOUCH_PX - 12}px; min-width: {TOUCH_PX - 24}px; padding: 4px 10px; border-radius: 8px;
    background: #455a64; border: 2px solid #607d8b; font-weight: bold;
}}
QPushButton:pressed {{ background: #607d8b; }}
QPushButton:checked {{ background: #0277bd; border-color: #4fc3f7; }}
QPushButton:disabled {{ color: #78909c; background: #37474f; border-color: #455a64; }}
QComboBox {{ min-height: {TOUCH_PX - 4}px; padding: 0 8px; font-size: 17px; background: #37474f; border: 2px solid #607d8b; border-radius: 8px; }}
QComboBox QAbstractItemView {{ font-size: 20px; background: #37474f; }}
QComboBox QAbstractItemView::item {{ min-height: {TOUCH_PX}px; }}
QListWidget {{ background: #37474f; border: none; font-size: 17px; }}
QListWidget::item {{ min-height: {TOUCH_PX}px; padding: 4px; border-bottom: 1px solid #455a64; }}
QListWidget::item:selected {{ background: #0277bd; }}
QLabel#tileValue {{ font-size: 34px; font-weight: bold; }}
QLabel#tileTitle {{ font-size: 15px; color: #b0bec5; }}
QFrame#tile {{ background: #37474f; border-radius: 10px; }}
QFrame#tile QLabel {{ background: transparent; }}
QScrollBar:vertical, QScrollBar:horizontal {{ width: 32px; height: 32px; }}
"""
