"""Look of the HMI: large type and touch targets (at least 48 px; most are 64 px) for gloved hands."""

from __future__ import annotations

MIN_TOUCH_PX = 48
TOUCH_PX = 64

COLORS = {
    "PASS": "#1b8a3a",
    "REJECT": "#c62828",
    "FAILSAFE_REJECT": "#e65100",
    "FAILSAFE_PASS": "#8d6e00",
    "none": "#546e7a",
}
LIGHT_COLORS = {"ok": "#2e7d32", "warn": "#f9a825", "fault": "#c62828", "idle": "#78909c"}
RESULT_TEXT = {"PASS": "PASS", "REJECT": "REJECT", "FAILSAFE_REJECT": "FAIL-SAFE REJECT", "FAILSAFE_PASS": "FAIL-SAFE PASS"}

STYLESHEET = f"""
QWidget {{ font-size: 20px; color: #eceff1; background: #263238; }}
QPushButton {{
    min-height: {TOUCH_PX}px; min-width: {TOUCH_PX}px; padding: 4px 16px; border-radius: 8px;
    background: #455a64; border: 2px solid #607d8b; font-weight: bold;
}}
QPushButton:pressed {{ background: #607d8b; }}
QPushButton:checked {{ background: #0277bd; border-color: #4fc3f7; }}
QPushButton:disabled {{ color: #78909c; background: #37474f; border-color: #455a64; }}
QComboBox {{ min-height: {TOUCH_PX}px; padding: 0 12px; background: #37474f; border: 2px solid #607d8b; border-radius: 8px; }}
QComboBox QAbstractItemView {{ font-size: 20px; background: #37474f; }}
QComboBox QAbstractItemView::item {{ min-height: {TOUCH_PX}px; }}
QListWidget {{ background: #37474f; border: none; }}
QListWidget::item {{ min-height: {TOUCH_PX}px; padding: 4px; border-bottom: 1px solid #455a64; }}
QListWidget::item:selected {{ background: #0277bd; }}
QLabel#tileValue {{ font-size: 40px; font-weight: bold; }}
QLabel#tileTitle {{ font-size: 16px; color: #b0bec5; }}
QFrame#tile {{ background: #37474f; border-radius: 10px; }}
QFrame#tile QLabel {{ background: transparent; }}
QScrollBar:vertical, QScrollBar:horizontal {{ width: 32px; height: 32px; }}
"""
