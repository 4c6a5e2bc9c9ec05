"""The operator's strip of recent rejects: cards of a fixed size that never move under a finger.

The card under the operator's eye stays there: while the strip is on screen
it never takes in new rejects by itself (an operator may be about to tap any
card at any moment, and a tap 0.1 s after a new reject came in must still
mark the card that was seen). New rejects wait behind the "N new rejects"
button at the left; a tap on it brings them in, newest at the left, and
scrolls back to the start. The strip fills itself only when it comes on
screen (after the login, on coming back from another screen) and while it
shows no card at all. Each card says
what was marked on it and by whom, as the database has it, and offers Undo
for ``UNDO_S`` seconds after a mark.

No button of the strip takes keyboard focus: a focused button whose card is
removed would hand its focus to another card, and the scroll area would
scroll to that one by itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QScroller,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from hmi.operator_vm import MARK_TEXT, OperatorViewModel, image_note
from hmi.screens.image_view import load_pixmap
from inspector.records.parts import PartKey, PartRecord
from hmi.screens.style import (
    BUTTON_GAP_PX,
    CARD_GAP_PX,
    RESULT_TEXT,
    TOUCH_PX,
    fixed_button,
    kinetic,
)

HOLD_AFTER_TOUCH_S = 2.0
CARD_W, CARD_H = 272, 204
TITLE_H = 24
CARD_BORDER_PX = 3
NEW_BUTTON_W = 96
THUMB_H = 64
_PRESS = {QEvent.MouseButtonPress, QEvent.TouchBegin}
_RELEASE = {QEvent.MouseButtonRelease, QEvent.TouchEnd, QEvent.TouchCancel}

MarkAction = Callable[[PartKey, str], None]
UndoAction = Callable[[PartKey], None]


def mark_status(part: PartRecord) -> str:
    """What the card says about its mark, from the record the database returned."""
    if part.mark is None:
        return "not marked"
    return f"✔ marked {MARK_TEXT.get(part.mark, part.mark)} by {part.mark_user or '?'}"


class RejectCard(QFrame):
    """One recent reject: thumbnail, part, its mark, and the touch buttons Good part, Defect, Undo."""

    def __init__(self, part: PartRecord, on_mark: MarkAction, on_undo: UndoAction, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.part = part
        self.setObjectName("tile")
        self.setFixedSize(CARD_W, CARD_H)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(4)
        inner = CARD_W - 16 - 2 * CARD_BORDER_PX
        self.thumb = QLabel()
        self.thumb.setFixedSize(inner, THUMB_H)
        self.thumb.setAlignment(Qt.AlignCenter)
        self.thumb.setStyleSheet("font-size: 15px; color: #b0bec5;")
        self.caption = QLabel()
        self.caption.setFixedSize(inner, 24)
        self.caption.setStyleSheet("font-size: 16px;")
        self.status = QLabel()
        self.status.setFixedSize(inner, 22)
        self.status.setStyleSheet("font-size: 14px; color: #a5d6a7;")
        for widget in (self.thumb, self.caption, self.status):
            layout.addWidget(widget)
        row = QHBoxLayout()
        row.setSpacing(BUTTON_GAP_PX)
        width = (inner - 2 * BUTTON_GAP_PX) // 3
        self.false_reject = QPushButton("Good\npart")
        self.true_defect = QPushButton("Defect")
        self.undo = QPushButton("Undo")
        for button in (self.false_reject, self.true_defect, self.undo):
            fixed_button(button, width, TOUCH_PX, "font-size: 16px;")
            button.setFocusPolicy(Qt.NoFocus)  # a tap leaves no focus behind to scroll the strip later
            row.addWidget(button)
        for button, mark in ((self.false_reject, "false_reject"), (self.true_defect, "true_defect")):
            button.setCheckable(True)
            button.clicked.connect(lambda _=False, m=mark: on_mark(self.part.key, m))
        self.undo.clicked.connect(lambda _=False: on_undo(self.part.key))
        policy = self.undo.sizePolicy()
        policy.setRetainSizeWhenHidden(True)  # the other buttons never move
        self.undo.setSizePolicy(policy)
        layout.addLayout(row)
        layout.addStretch(1)
        self._image: str | None = "-"
        self._state: tuple | None = None
        self.show_part(part, 0.0, time.time())

    def show_part(self, part: PartRecord, undo_left_s: float, now: float) -> None:
        """Show ``part`` (the same part, newer facts: its image, its mark) and the Undo time left.

        Only what changed is touched: a card re-styled on every refresh would relayout the strip under a swipe.
        """
        undo = round(undo_left_s) if undo_left_s > 0 else 0
        note = "" if part.image_path else image_note(part, now)
        state = (part, undo, note)
        if state == self._state:
            return
        self._state = state
        self.part = part
        border = {"false_reject": "#66bb6a", "true_defect": "#ef5350"}.get(part.mark or "", "#37474f")
        self.setStyleSheet(f"QFrame#tile {{ border: {CARD_BORDER_PX}px solid {border}; }}")
        if part.image_path != self._image:
            self._image = part.image_path
            pixmap = load_pixmap(part.image_path)
            if pixmap is not None:
                self.thumb.setPixmap(pixmap.scaled(self.thumb.width(), THUMB_H, Qt.KeepAspectRatio, Qt.SmoothTransformation))
        if self.thumb.pixmap().isNull():
            self.thumb.setText(note)
        classes = ", ".join(sorted({d["cls"] for d in part.detections if d.get("causes_reject", True)}))
        self.caption.setText(f"#{part.part_id} · {classes or RESULT_TEXT.get(part.result, part.result).lower()}")
        self.status.setText(mark_status(part))
        self.false_reject.setChecked(part.mark == "false_reject")
        self.true_defect.setChecked(part.mark == "true_defect")
        self.undo.setText(f"Undo\n{undo} s")
        self.undo.setVisible(undo > 0)


class RejectStrip(QWidget):
    def __init__(self, vm: OperatorViewModel, on_mark: MarkAction, on_undo: UndoAction,
                 clock: Callable[[], float] = time.monotonic, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        self.on_mark = on_mark
        self.on_undo = on_undo
        self.clock = clock
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(4)
        title = QLabel("Recent rejects — “Good part” for a false reject, “Defect” to confirm; swipe to scroll")
        title.setStyleSheet("font-size: 17px; color: #b0bec5;")
        title.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        title.setFixedHeight(TITLE_H)
        column.addWidget(title)
        row = QHBoxLayout()
        row.setSpacing(CARD_GAP_PX)
        self.new_rejects = QPushButton("")  # left of the cards, where the new ones will go in
        fixed_button(self.new_rejects, NEW_BUTTON_W, CARD_H, "font-size: 17px;")
        self.new_rejects.setFocusPolicy(Qt.NoFocus)
        self.new_rejects.clicked.connect(self.resume)
        row.addWidget(self.new_rejects, 0, Qt.AlignTop)
        self.host = QWidget()
        self.row = QHBoxLayout(self.host)
        self.row.setContentsMargins(0, 0, 0, 0)
        self.row.setSpacing(CARD_GAP_PX)
        self.no_rejects = QLabel("No rejects this shift")
        self.no_rejects.setStyleSheet("color: #78909c; font-size: 22px;")
        self.row.addWidget(self.no_rejects)
        self.row.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setFocusPolicy(Qt.NoFocus)
        self.scroll.setWidget(self.host)
        self.scroll.setWidgetResizable(True)
        self.scroll.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
        self.scroll.setFixedHeight(CARD_H + 32 + 2 * self.scroll.frameWidth() + 4)  # a card and the scroll bar
        self.scroll.viewport().installEventFilter(self)
        self.scroll.horizontalScrollBar().valueChanged.connect(lambda value: value == 0 and self.render())
        kinetic(self.scroll)
        row.addWidget(self.scroll, 1)
        column.addLayout(row)
        self.setFixedHeight(TITLE_H + column.spacing() + self.scroll.height())  # never pushed around by the screen above
        self.cards: list[RejectCard] = []
        self.pressed = False
        self.hold_until = 0.0

    # -- when the strip may change -----------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in _PRESS:
            self.pressed = True
        elif event.type() in _RELEASE:
            self.pressed = False
            self.hold_until = self.clock() + HOLD_AFTER_TOUCH_S
        return False

    def paused(self) -> bool:
        """True while a finger is on the strip, just after a touch, during a swipe, or scrolled away from the start."""
        scrolling = QScroller.scroller(self.scroll.viewport()).state() != QScroller.Inactive
        return self.pressed or scrolling or self.clock() < self.hold_until or self.scroll.horizontalScrollBar().value() > 0

    def holds_still(self) -> bool:
        """True whenever the strip shows a card on screen: an operator could be about to tap it at any moment.

        (An empty strip on screen takes in its first rejects: there was no card under anyone's eye.)
        """
        return self.paused() or self.isVisible() and bool(self.cards)

    def resume(self) -> None:
        """Bring in the rejects that were held back (the operator asked for them), from the start of the strip."""
        self.hold_until = 0.0
        self.pressed = False
        QScroller.scroller(self.scroll.viewport()).stop()  # no momentum left from a swipe
        self.scroll.horizontalScrollBar().setValue(0)
        self._take_in()

    def showEvent(self, event) -> None:  # noqa: N802
        """Coming on screen (a login, back from another screen): the operator has not seen the cards yet."""
        super().showEvent(event)
        if not self.paused():
            self.vm.refresh()  # the database as it is now, not as it was at the last refresh
            self._take_in()

    def _take_in(self) -> None:
        latest = list(self.vm.recent_rejects)
        if [card.part.key for card in self.cards] != [p.key for p in latest]:
            self._rebuild(latest)
        self.render()

    # -- rendering ------------------------------------------------------------------
    def render(self) -> None:
        vm, now = self.vm, time.time()
        latest = {p.key: p for p in vm.recent_rejects}
        shown = [card.part.key for card in self.cards]
        if not self.holds_still() and shown != list(latest):
            self._rebuild(list(latest.values()))
            shown = [card.part.key for card in self.cards]
        waiting = [key for key in latest if key not in set(shown) and latest[key].t_trigger > self._newest_shown()]
        # always in its place (the cards never shift): what waits and a tap to show it, or that nothing waits
        if waiting:
            self.new_rejects.setText(f"{len(waiting)}\nnew\nreject{'s' if len(waiting) != 1 else ''}\n‹ show")
        else:
            self.new_rejects.setText("no new\nrejects")
        self.new_rejects.setEnabled(bool(waiting))
        for card in self.cards:
            part = vm.marked.get(card.part.key) if card.part.key not in latest else latest[card.part.key]
            card.show_part(part or card.part, vm.undo_left_s(card.part.key), now)
        self.no_rejects.setVisible(not self.cards)

    def _newest_shown(self) -> float:
        return max((card.part.t_trigger for card in self.cards), default=float("-inf"))

    def _rebuild(self, parts: list[PartRecord]) -> None:
        keep = {card.part.key: card for card in self.cards}
        for card in self.cards:
            self.row.removeWidget(card)
        wanted = {p.key for p in parts}
        for key, card in keep.items():
            if key not in wanted:
                card.hide()
                card.deleteLater()
        self.cards = []
        for i, part in enumerate(parts):
            card = keep.get(part.key)
            if card is None:
                card = RejectCard(part, self.on_mark, self.on_undo)
                for widget in (card, card.false_reject, card.true_defect, card.undo):
                    widget.installEventFilter(self)
            self.row.insertWidget(i, card, 0, Qt.AlignTop | Qt.AlignLeft)  # a scroll bar appearing moves no card
            if self.host.isVisible():
                card.show()  # now (Qt would show it at the next turn of the loop, after a tap could land)
            self.cards.append(card)
        # laid out now, not at the next turn of the event loop: a tap right after never finds the cards piled up
        self.row.activate()
        self.host.resize(max(self.row.minimumSize().width(), self.scroll.viewport().width()), self.host.height())
