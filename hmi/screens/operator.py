"""The operator screen: verdict and image of one part, shift counters, latency, status lights, alarms, recent rejects."""

from __future__ import annotations

import time
from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame, QGridLayout, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget,
)

from hmi.alarm_text import banner_text
from hmi.operator_vm import LIGHTS, OperatorViewModel, image_note
from hmi.screens.fitted_label import FittedFigure, FittedLabel
from hmi.screens.image_view import Outlined, PartImage
from hmi.screens.reject_strip import RejectCard, RejectStrip
from hmi.screens.style import COLORS, LIGHT_COLORS, RESULT_TEXT, TOUCH_PX
from inspector.errors import InspectorError
from inspector.records.parts import PartRecord

ErrorSink = Callable[[Exception], None]
LEFT_W = 300  # verdict, latency and lights
COUNTER_W = 132  # two columns of counters at 1024 px: the image gets the rest (418 px at 1024 x 768)
#: a counter tile's width by the screen's width (wider screens, wider tiles); a figure that still does not fit
#: at the tile's large font is set smaller, never cut (999 999 fits a 132 px tile)
COUNTER_WIDTHS = ((1200, COUNTER_W), (1600, 176), (10**6, 220))
BANNER_H = TOUCH_PX + 12
LIGHT_H = 38


def _boxes(part: PartRecord) -> list[Outlined]:
    """The findings that rejected the part: label, box, and the region's outline when the model drew one."""
    return [
        (f"{d['cls']} {d.get('score', 0):.2f}", tuple(d["box"]), [tuple(p) for p in d.get("outline", [])])
        for d in part.detections
        if d.get("causes_reject", True)
    ]


def grouped(count: int) -> str:
    """A counter with its thousands apart (a narrow space: no comma to read as a decimal point): 999 999."""
    return f"{count:,}".replace(",", "\u202f")


class Tile(QFrame):
    """A titled figure. Its title wraps rather than widen the tile, so six fit beside the image at 1024 px."""

    def __init__(self, title: str, parent: QWidget | None = None, fitted: bool = False, value_px: int = 34) -> None:
        super().__init__(parent)
        self.setObjectName("tile")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 4, 10, 4)
        layout.setSpacing(0)
        if fitted:  # one line, shortened with "…" rather than growing the tile
            self.title = FittedLabel(title)
            self.title.setFixedHeight(20)
        else:
            self.title = QLabel(title)
            self.title.setWordWrap(True)
        self.title.setObjectName("tileTitle")
        self.value = FittedFigure("–", max_px=value_px)
        self.value.setObjectName("tileValue")
        layout.addWidget(self.title)
        layout.addWidget(self.value)


class StatusLight(QFrame):
    """A light: coloured dot, name, and up to two lines of what it means (the whole text in its tooltip)."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("tile")
        self.setFixedHeight(LIGHT_H)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 2, 8, 2)
        self.dot = QLabel()
        self.dot.setFixedSize(24, 24)
        self.name = QLabel(name)
        self.name.setFixedWidth(82)
        self.name.setStyleSheet("font-weight: bold; font-size: 17px; background: transparent;")
        self.text = FittedLabel("")
        self.text.setStyleSheet("font-size: 14px; color: #b0bec5; background: transparent;")
        layout.addWidget(self.dot)
        layout.addWidget(self.name)
        layout.addWidget(self.text, 1)
        self.state = "idle"

    def set(self, state: str, text: str) -> None:
        self.state = state
        self.dot.setStyleSheet(f"background: {LIGHT_COLORS[state]}; border-radius: 12px;")
        self.text.set_full_text(f"{state.upper()} · {text}")


class OperatorScreen(QWidget):
    def __init__(self, vm: OperatorViewModel, on_error: ErrorSink, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        self.on_error = on_error
        root = QVBoxLayout(self)
        root.setContentsMargins(8, 8, 8, 8)

        self._banner_shown: tuple[str, str] | None = ("", "")  # what the banner shows now (None: hidden)
        self.banner = QFrame()
        self.banner.setFixedHeight(BANNER_H)
        banner_row = QHBoxLayout(self.banner)
        banner_row.setContentsMargins(10, 6, 6, 6)
        self.banner_text = FittedLabel("", ellipsis="… ▸ tap to read all")  # a touchscreen has no hover
        self.banner_text.setStyleSheet("font-size: 18px; font-weight: bold; background: transparent;")
        self.banner_text.mousePressEvent = lambda event: self.toggle_banner()
        self.banner_open = False
        self.ack_button = QPushButton("Acknowledge")
        self.ack_button.clicked.connect(self._acknowledge)
        banner_row.addWidget(self.banner_text, 1)
        banner_row.addWidget(self.ack_button)

        main = QHBoxLayout()
        main.setSpacing(8)
        left_host = QWidget()
        left_host.setFixedWidth(LEFT_W)
        left = QVBoxLayout(left_host)
        left.setContentsMargins(0, 0, 0, 0)
        left.setSpacing(5)
        self.indicator = QLabel("—")
        self.indicator.setAlignment(Qt.AlignCenter)
        self.indicator.setFixedHeight(90)
        left.addWidget(self.indicator)
        self.part_caption = FittedFigure("waiting for the first part", max_px=20, min_px=11, bold=False)
        self.part_caption.setAlignment(Qt.AlignCenter)
        self.part_caption.setFixedHeight(24)
        self.part_caption.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        left.addWidget(self.part_caption)
        # when the panel holds a reject: the line's latest part, in small
        self.latest_caption = FittedFigure("", max_px=15, min_px=11, bold=False, css="color: #b0bec5;")
        self.latest_caption.setAlignment(Qt.AlignCenter)
        self.latest_caption.setFixedHeight(20)
        self.latest_caption.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        left.addWidget(self.latest_caption)
        self.latency = Tile("Trigger → PLC latency", fitted=True, value_px=30)
        left.addWidget(self.latency)
        self.lights = {name: StatusLight(name) for name in LIGHTS}
        for light in self.lights.values():
            left.addWidget(light)
        left.addStretch(1)
        main.addWidget(left_host)

        center = QVBoxLayout()
        center.addWidget(self.banner)  # above the image: prominent, and the screen still fits 1024x768
        self.image = PartImage()
        center.addWidget(self.image, 1)
        main.addLayout(center, 1)

        counters = QGridLayout()
        counters.setSpacing(6)
        self.counters = {
            "inspected": Tile("Inspected"), "passed": Tile("Passed"), "rejected": Tile("Rejected"),
            "failsafe_rejects": Tile("Fail-safe rejects"), "false_rejects": Tile("False rejects"),
            "false_reject_rate": Tile("False-reject rate"),
        }
        for i, tile in enumerate(self.counters.values()):
            tile.setFixedWidth(COUNTER_W)  # and wider on a wider screen (resizeEvent)
            counters.addWidget(tile, i // 2, i % 2)
        counters.setRowStretch(3, 1)
        main.addLayout(counters)
        root.addLayout(main, 1)

        self.strip = RejectStrip(vm, self._mark, self._undo)
        root.addWidget(self.strip)
        self._image_key: tuple | None = None
        self._size_banner()
        vm.on_change(self.render)
        self.render()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        width = next(w for limit, w in COUNTER_WIDTHS if self.window().width() < limit)
        for tile in self.counters.values():
            if tile.width() != width:
                tile.setFixedWidth(width)
        self._size_banner()

    def toggle_banner(self) -> None:
        """A tap on the alarm text opens the whole sentence (over the image) and a second tap closes it."""
        self.banner_open = not self.banner_open and self.banner_text.shortened
        self._size_banner()

    def _size_banner(self) -> None:
        height = BANNER_H
        if self.banner_open:
            self.banner_text.setText(self.banner_text.full_text)
            height = max(BANNER_H, self.banner_text.heightForWidth(self.banner_text.width()) + 12)
        self.banner.setFixedHeight(height)
        self.image.setVisible(not self.banner_open)  # the sentence in the image's place until the next tap
        if not self.banner_open:
            self.banner_text.set_full_text(self.banner_text.full_text)

    # -- rendering ------------------------------------------------------------------
    def render(self) -> None:
        vm = self.vm
        part = vm.shown
        result = part.result if part else None
        color = COLORS.get(result or "none", COLORS["none"])
        self.indicator.setText(RESULT_TEXT.get(result, "—") if result else "—")
        size = 60 if result in (None, "PASS", "REJECT") else 32
        if vm.line_stopped:
            color = COLORS["none"]  # the verdict of the last part, greyed: nothing is passing now
        self.indicator.setStyleSheet(f"background: {color}; color: white; font-size: {size}px; font-weight: bold; border-radius: 14px;")
        if part is not None:
            when = time.strftime("%H:%M:%S", time.localtime(part.t_trigger))
            stopped = " · line stopped" if vm.line_stopped else ""
            self.part_caption.setText(f"part {part.part_id} · {part.camera} · {when}{stopped}")
        latest = vm.current
        if latest is not None and part is not None and latest.key != part.key:
            self.latest_caption.setText(f"latest: part {latest.part_id} · {RESULT_TEXT.get(latest.result, latest.result)}")
        else:
            self.latest_caption.setText("")
        self._render_counters()
        self._render_latency()
        for name, light in self.lights.items():
            state = vm.lights.get(name)
            if state is not None:
                light.set(state.state, state.text)
        self._render_banner()
        self._render_image()
        self.strip.render()

    def _render_counters(self) -> None:
        c = self.vm.counts
        values = {
            "inspected": grouped(c.inspected), "passed": grouped(c.passed), "rejected": grouped(c.rejected),
            "failsafe_rejects": grouped(c.failsafe_rejects), "false_rejects": grouped(c.false_rejects),
            "false_reject_rate": f"{c.false_reject_rate:.1%}",
        }
        for name, value in values.items():
            self.counters[name].value.setText(value)

    def _render_latency(self) -> None:
        lat = self.vm.latency
        if lat.last_ms is None:
            self.latency.value.setText(f"– / {lat.budget_ms:.0f} ms")
            return
        color = "#ff5252" if lat.over_budget else "#69f0ae"
        last = f"{lat.last_ms:.0f}" if lat.last_ms < 10_000 else f"{lat.last_ms / 1000:.0f} s"  # a stall fits the tile too
        self.latency.value.setText(f"<span style='color:{color}'>{last}</span> / {lat.budget_ms:.0f} ms")
        self.latency.title.set_full_text(f"Trigger → PLC · p50 {lat.p50_ms:.0f} · p99 {lat.p99_ms:.0f}")

    def _render_banner(self) -> None:
        latest = self.vm.alarm_latest
        if (not self.vm.alarm_count or latest is None) and not self.vm.alarm_problem:
            self._set_banner(None)
            return
        if latest is None:
            self._set_banner(("#e65100", f"⚠ {self.vm.alarm_problem}"))
            return
        # standing critical: red; standing warning: amber; returned to normal, waiting for acknowledgement: grey
        color = ("#b71c1c" if latest.severity == "critical" else "#e65100") if latest.active else "#546e7a"
        self._set_banner((color, banner_text(latest, self.vm.alarm_count)))

    def _set_banner(self, shown: tuple[str, str] | None) -> None:
        """Change the banner only when what it shows changes (every Qt call costs; none is made per refresh)."""
        if shown == self._banner_shown:
            return
        self._banner_shown = shown
        if shown is None:
            self.banner.hide()
            return
        self.banner.setStyleSheet(f"background: {shown[0]}; border-radius: 8px;")
        self.banner_open = False  # a new alarm: closed again, so the image shows
        self.banner_text.set_full_text(shown[1])
        self._size_banner()
        self.banner.show()

    def _render_image(self) -> None:
        """The image of the part the verdict shows (one record for verdict, caption and image)."""
        part = self.vm.shown
        note = image_note(part, time.time())
        key = (part.key, part.image_path, len(part.detections), note) if part else None
        if key == self._image_key:
            return
        self._image_key = key
        if part is None:
            self.image.show_part(None, [], note)
            return
        title = RESULT_TEXT.get(part.result, part.result)
        self.image.show_part(part.image_path, _boxes(part), f"part {part.part_id} · {title}", note)

    @property
    def cards(self) -> list[RejectCard]:
        return self.strip.cards

    # -- actions --------------------------------------------------------------------
    def _mark(self, key: tuple[str, int], mark: str) -> None:
        try:
            self.vm.mark(key, mark)
        except InspectorError as err:  # shown to the user by the window, and logged
            self.render()
            self.on_error(err)

    def _undo(self, key: tuple[str, int]) -> None:
        try:
            self.vm.undo_mark(key)
        except InspectorError as err:
            self.render()
            self.on_error(err)

    def _acknowledge(self) -> None:
        try:
            self.vm.acknowledge_alarms()
        except InspectorError as err:
            self.on_error(err)
