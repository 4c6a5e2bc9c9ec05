"""The drift screen: per camera, trend plots of brightness, contrast, score PSI and reject rate against their limits,
and the drift alarms active now."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QVBoxLayout,
    QWidget,
)

from hmi.drift_vm import MEASURE_TITLES, DriftViewModel, Trend
from hmi.screens.style import BUTTON_GAP_PX, LIGHT_COLORS, kinetic

ErrorSink = Callable[[Exception], None]
PLOT_MIN_H = 150
LINE = QColor("#4fc3f7")
LIMIT = QColor("#ef5350")
TEXT = QColor("#cfd8dc")
FAINT = QColor("#546e7a")


class TrendPlot(QWidget):
    """One measure over time: the line, the limit as a dashed red line, the latest value in the title."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.trend: Trend | None = None
        self.setMinimumSize(220, PLOT_MIN_H)

    def show_trend(self, trend: Trend | None) -> None:
        self.trend = trend
        self.update()

    def title(self) -> str:
        t = self.trend
        if t is None:
            return ""
        latest = "no value yet" if t.latest is None else f"{t.latest:.3g}"
        return f"{MEASURE_TITLES[t.measure]}: {latest} (limit {t.limit:g})"

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        painter.fillRect(self.rect(), QColor("#37474f"))
        t = self.trend
        if t is None:
            return
        font = QFont(self.font())
        font.setPixelSize(15)
        painter.setFont(font)
        painter.setPen(LIMIT if t.over_limit else TEXT)
        title_h = painter.fontMetrics().height() + 6
        painter.drawText(QRectF(8, 2, self.width() - 16, title_h), Qt.AlignLeft | Qt.AlignVCenter,
                         painter.fontMetrics().elidedText(self.title(), Qt.ElideRight, self.width() - 16))
        area = QRectF(44, title_h + 4, self.width() - 54, self.height() - title_h - 26)
        values = [v for _, v in t.points]
        top = max([t.limit * 1.25, *values]) or 1.0
        y = lambda v: area.bottom() - (v / top) * area.height()
        painter.setPen(QPen(FAINT, 1))
        painter.drawRect(area)
        painter.setPen(TEXT)
        small = QFont(font)
        small.setPixelSize(12)
        painter.setFont(small)
        painter.drawText(QRectF(0, area.top() - 8, 40, 16), Qt.AlignRight | Qt.AlignVCenter, f"{top:.2g}")
        painter.drawText(QRectF(0, area.bottom() - 8, 40, 16), Qt.AlignRight | Qt.AlignVCenter, "0")
        limit_pen = QPen(LIMIT, 2, Qt.DashLine)
        painter.setPen(limit_pen)
        painter.drawLine(QPointF(area.left(), y(t.limit)), QPointF(area.right(), y(t.limit)))
        if not t.points:
            painter.setPen(TEXT)
            painter.drawText(area, Qt.AlignCenter, "no value yet")
            return
        t0, t1 = t.points[0][0], t.points[-1][0]
        span = (t1 - t0) or 1.0
        x = lambda when: area.left() + (when - t0) / span * area.width()
        painter.setPen(QPen(LINE, 2))
        if len(t.points) == 1:
            painter.drawEllipse(QPointF(x(t0), y(values[0])), 3, 3)
        else:
            painter.drawPolyline(QPolygonF([QPointF(x(when), y(v)) for when, v in t.points]))
        painter.setPen(TEXT)
        fmt = "%H:%M" if t1 - t0 < 86400 else "%m-%d %H:%M"
        painter.drawText(QRectF(area.left(), area.bottom() + 2, 120, 18), Qt.AlignLeft, time.strftime(fmt, time.localtime(t0)))
        painter.drawText(QRectF(area.right() - 120, area.bottom() + 2, 120, 18), Qt.AlignRight,
                         time.strftime(fmt, time.localtime(t1)))


class DriftScreen(QWidget):
    def __init__(self, vm: DriftViewModel, on_error: ErrorSink, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        self.on_error = on_error
        root = QVBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        root.setSpacing(BUTTON_GAP_PX)
        top = QHBoxLayout()
        top.setSpacing(BUTTON_GAP_PX)
        self.camera = QComboBox()
        self.camera.setMinimumContentsLength(10)
        self.camera.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.camera.currentIndexChanged.connect(lambda _=0: self._show_camera())
        top.addWidget(self.camera)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("font-size: 16px;")
        top.addWidget(self.summary, 1)
        root.addLayout(top)
        grid = QGridLayout()
        grid.setSpacing(BUTTON_GAP_PX)
        self.plots = [TrendPlot() for _ in range(4)]
        for i, plot in enumerate(self.plots):
            grid.addWidget(plot, i // 2, i % 2)
        root.addLayout(grid, 1)
        alarms_title = QLabel("Active drift alarms")
        alarms_title.setStyleSheet("font-size: 18px; font-weight: bold; color: #b0bec5;")
        root.addWidget(alarms_title)
        self.alarms = QListWidget()
        self.alarms.setFixedHeight(2 * 72 + 4)
        self.alarms.setWordWrap(True)
        self.alarms.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        kinetic(self.alarms)
        root.addWidget(self.alarms)
        vm.on_change(self.render)

    def reload(self) -> None:
        self.vm.load()

    def render(self) -> None:
        vm = self.vm
        cameras = sorted(vm.trends)
        if [self.camera.itemText(i) for i in range(self.camera.count())] != cameras:
            chosen = self.camera.currentText()
            self.camera.blockSignals(True)
            self.camera.clear()
            self.camera.addItems(cameras)
            if chosen in cameras:
                self.camera.setCurrentText(chosen)
            self.camera.blockSignals(False)
        self.camera.setVisible(bool(cameras))
        self._show_camera()
        self.alarms.clear()
        for alarm in vm.active_alarms:
            self.alarms.addItem(f"{time.strftime('%H:%M:%S', time.localtime(alarm.t))} {alarm.code}: {alarm.text}")
        if not vm.active_alarms:
            self.alarms.addItem("none active")
        over = sum(t.over_limit for trends in vm.trends.values() for t in trends)
        self.summary.setText(vm.problem or (f"{over} measure(s) over the limit now" if over else "every measure within its limit"))
        self.summary.setStyleSheet(f"font-size: 16px; color: {LIGHT_COLORS['warn'] if over or vm.active_alarms else '#eceff1'};")

    def _show_camera(self) -> None:
        trends = self.vm.trends.get(self.camera.currentText(), [])
        for i, plot in enumerate(self.plots):
            plot.show_trend(trends[i] if i < len(trends) else None)
