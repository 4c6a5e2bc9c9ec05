"""The model screen (quality engineer, admin): production and last-known-good per slot, the registry's packages with
their gate and shadow results, the shadow disagreements with both decisions and the image, and the signed rollback."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from hmi.model_vm import Disagreement, ModelViewModel, SlotView
from hmi.screens.image_view import PartImage
from hmi.screens.style import BUTTON_GAP_PX, kinetic
from inspector.errors import InspectorError

ErrorSink = Callable[[Exception], None]
LEFT_W = 400  # slots and packages; the details get the rest (at least 600 px at 1024 x 768)
REASONS = ["reject rate departs from shadow", "false rejects rising", "missed defects found downstream",
           "drift alarm after the promotion"]
_DATE = "%Y-%m-%d %H:%M"


def _when(t: float) -> str:
    return time.strftime(_DATE, time.localtime(t)) if t else "-"


def slot_text(slot: SlotView) -> str:
    """One line each: the slot and what runs, family and signer, installed, promoted, last-known-good."""
    p = slot.package
    lines = [f"{slot.slot}: {slot.label}"]
    if p is not None:
        lines += [f"{p.family} · signed by {p.signer}", f"installed by {p.installed_by} {_when(p.installed_at)}"]
    else:
        lines += ["from the station config (not from the registry)"]
    lines.append(f"promoted by {slot.promoted_by} {_when(slot.promoted_at)}" if slot.promoted_at else "never promoted")
    lines.append(f"last-known-good: {slot.last_known_good or 'none'}")
    return "\n".join(lines)


SLOT_LINES = 5


def _list(height: int | None = None) -> QListWidget:
    widget = QListWidget()
    widget.setVerticalScrollMode(QListWidget.ScrollPerPixel)
    widget.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    widget.setTextElideMode(Qt.ElideRight)
    widget.setWordWrap(True)  # a long package name wraps rather than hide what follows
    kinetic(widget)
    if height:
        widget.setFixedHeight(height)
    return widget


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    label.setStyleSheet("font-size: 18px; font-weight: bold; color: #b0bec5;")
    return label


class SignaturePanel(QWidget):
    """The rollback's electronic signature: a reason and the PIN typed again on a keypad."""

    def __init__(self, on_sign: Callable[[str, str], None], on_cancel: Callable[[], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.on_sign = on_sign
        self.pin = ""
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(BUTTON_GAP_PX)
        self.what = QLabel("")
        self.what.setWordWrap(True)
        self.what.setStyleSheet("font-weight: bold;")
        layout.addWidget(self.what)
        columns = QHBoxLayout()  # reason and PIN beside the keypad: the panel fits 768 px high
        columns.setSpacing(2 * BUTTON_GAP_PX)
        fields = QVBoxLayout()
        fields.setSpacing(BUTTON_GAP_PX)
        reason_label = QLabel("Reason (choose or type):")
        reason_label.setWordWrap(True)
        fields.addWidget(reason_label)
        self.reason = QComboBox()
        self.reason.setEditable(True)
        self.reason.addItems(REASONS)
        self.reason.setCurrentIndex(-1)
        self.reason.setMinimumContentsLength(10)
        self.reason.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        fields.addWidget(self.reason)
        pin_hint = QLabel("Your PIN again (your signature):")
        pin_hint.setWordWrap(True)
        fields.addWidget(pin_hint)
        self.pin_label = QLabel("")
        self.pin_label.setAlignment(Qt.AlignCenter)
        self.pin_label.setStyleSheet("font-size: 30px; letter-spacing: 10px; background: #37474f; border-radius: 8px;")
        self.pin_label.setFixedHeight(52)
        fields.addWidget(self.pin_label)
        fields.addStretch(1)
        columns.addLayout(fields, 1)
        pad = QGridLayout()
        pad.setSpacing(BUTTON_GAP_PX)
        self.keys: dict[str, QPushButton] = {}
        for i, key in enumerate(["1", "2", "3", "4", "5", "6", "7", "8", "9", "Clear", "0", "⌫"]):
            button = QPushButton(key)
            button.setMinimumSize(80, 64)
            button.clicked.connect(lambda _=False, k=key: self.press(k))
            pad.addWidget(button, i // 3, i % 3)
            self.keys[key] = button
        columns.addLayout(pad)
        layout.addLayout(columns)
        row = QHBoxLayout()
        row.setSpacing(BUTTON_GAP_PX)
        self.sign = QPushButton("Sign and roll back")
        self.sign.setStyleSheet("background: #b71c1c;")
        self.sign.clicked.connect(self._submit)
        self.cancel = QPushButton("Cancel")
        self.cancel.clicked.connect(on_cancel)
        row.addWidget(self.sign, 1)
        row.addWidget(self.cancel)
        layout.addLayout(row)
        layout.addStretch(1)

    def start(self, what: str) -> None:
        self.what.setText(what)
        self.pin = ""
        self.reason.setCurrentIndex(-1)
        self.reason.setEditText("")
        self._show()

    def press(self, key: str) -> None:
        self.pin = "" if key == "Clear" else self.pin[:-1] if key == "⌫" else (self.pin + key)[:8]
        self._show()

    def _show(self) -> None:
        self.pin_label.setText("●" * len(self.pin) or "PIN")

    def _submit(self) -> None:
        pin, self.pin = self.pin, ""
        self._show()
        self.on_sign(pin, self.reason.currentText())


class ModelScreen(QWidget):
    def __init__(self, vm: ModelViewModel, on_error: ErrorSink, on_review: Callable[[tuple[str, int]], None] | None = None,
                 parent: QWidget | None = None) -> None:
        """``on_review(key)``: open a part on the review screen, to label it (then it can join the golden set)."""
        super().__init__(parent)
        self.vm = vm
        self.on_error = on_error
        self.on_review = on_review
        root = QHBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        root.setSpacing(BUTTON_GAP_PX)

        left = QVBoxLayout()
        left.setContentsMargins(0, 0, 0, 0)
        left.setSpacing(BUTTON_GAP_PX)
        left.addWidget(_heading("Production (per model slot)"))
        self.slots = _list(SLOT_LINES * 22 + 20)
        left.addWidget(self.slots)
        self.rollback = QPushButton("Roll back to last-known-good")
        self.rollback.setStyleSheet("background: #8e2424;")
        self.rollback.clicked.connect(self._ask_signature)
        left.addWidget(self.rollback)
        left.addWidget(_heading("Packages in the registry (newest first)"))
        self.packages = _list()
        self.packages.currentItemChanged.connect(
            lambda item, _prev: item is not None and self._choose_later(item.data(Qt.UserRole)))
        left.addWidget(self.packages, 1)
        left_host = QWidget()
        left_host.setLayout(left)
        left_host.setFixedWidth(LEFT_W)
        root.addWidget(left_host)

        right = QVBoxLayout()
        right.setContentsMargins(0, 0, 0, 0)
        right.setSpacing(BUTTON_GAP_PX)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("font-size: 16px;")
        right.addWidget(self.status)
        tabs = QHBoxLayout()
        tabs.setSpacing(BUTTON_GAP_PX)
        self.gate_button = QPushButton("Gate report")
        self.disagreement_button = QPushButton("Shadow disagreements")
        for button in (self.gate_button, self.disagreement_button):
            button.setCheckable(True)
            tabs.addWidget(button)
        tabs.addStretch(1)
        self.gate_button.clicked.connect(lambda: self._guard(self.show_gate_report))
        self.disagreement_button.clicked.connect(lambda: self.show_page(self.disagreement_page))
        right.addLayout(tabs)
        self.pages = QStackedWidget()
        self.gate_text = QPlainTextEdit()
        self.gate_text.setReadOnly(True)
        self.gate_text.setStyleSheet("font-size: 16px; background: #37474f;")
        kinetic(self.gate_text)
        self.pages.addWidget(self.gate_text)
        self.disagreement_page = QWidget()
        page = QHBoxLayout(self.disagreement_page)
        page.setContentsMargins(0, 0, 0, 0)
        page.setSpacing(BUTTON_GAP_PX)
        self.disagreements = _list()
        self.disagreements.setMinimumWidth(200)
        self.disagreements.currentRowChanged.connect(self._show_disagreement)
        listing = QVBoxLayout()
        listing.setSpacing(BUTTON_GAP_PX)
        listing.addWidget(self.disagreements, 1)
        self.review_part = QPushButton("Label it in Review")
        self.review_part.clicked.connect(self._review_chosen)
        self.review_part.setVisible(on_review is not None)
        listing.addWidget(self.review_part)
        page.addLayout(listing, 2)
        self.image = PartImage()
        page.addWidget(self.image, 3)
        self.pages.addWidget(self.disagreement_page)
        self.signature = SignaturePanel(self._sign, lambda: self.show_page(self.gate_text))
        self.pages.addWidget(self.signature)
        right.addWidget(self.pages, 1)
        root.addLayout(right, 1)
        vm.on_change(self.render)

    # -- rendering ------------------------------------------------------------------------
    def reload(self) -> None:
        self.vm.load()

    def render(self) -> None:
        vm = self.vm
        chosen_slot = self.selected_slot()
        self.slots.clear()
        for slot in vm.slots:
            item = QListWidgetItem(slot_text(slot))
            item.setData(Qt.UserRole, slot.slot)
            item.setToolTip(slot_text(slot))
            self.slots.addItem(item)
            if slot.slot == chosen_slot:
                self.slots.setCurrentItem(item)
        if self.slots.currentRow() < 0 and self.slots.count():
            self.slots.setCurrentRow(0)
        self.packages.blockSignals(True)
        self.packages.clear()
        for view in vm.packages:
            p = view.package
            text = f"{p.label}\n{p.family} · {view.role}\n{view.gate_text}\n{view.shadow_text}"
            item = QListWidgetItem(text)
            item.setData(Qt.UserRole, p.package_id)
            item.setToolTip(f"{text}\nid {p.package_id}\nsigned by {p.signer} (key {p.key_id})\n"
                            f"installed by {p.installed_by} {_when(p.installed_at)} from {p.source}")
            self.packages.addItem(item)
            if vm.current is not None and p.package_id == vm.current.package.package_id:
                self.packages.setCurrentItem(item)
        self.packages.blockSignals(False)
        self.disagreements.blockSignals(True)
        self.disagreements.clear()
        for d in vm.disagreements:
            self.disagreements.addItem(
                f"part {d.part_id} ({d.camera}) {_when(d.t)}\nproduction: {Disagreement.verdict(d.production_rejects, d.production_reason)}\n"
                f"candidate: {Disagreement.verdict(d.candidate_rejects, d.candidate_reason)}")
        self.disagreements.blockSignals(False)
        self.review_part.setEnabled(bool(vm.disagreements))
        if vm.disagreements:
            self.disagreements.setCurrentRow(0)
        else:
            self.image.show_part(None, [], "", "no disagreement to show" if vm.current else "choose a package")
        lines = [vm.problem] if vm.problem else []
        if vm.last_rollback is not None:
            lines.append("Rolled back: " + vm.last_rollback.text())
        if vm.current is not None:
            lines.append(f"{vm.current.package.label}: {vm.current.gate_text}; {vm.current.shadow_text}")
        self.status.setText("\n".join(lines) or "Choose a package to see its gate report and shadow disagreements.")
        slot = next((s for s in vm.slots if s.slot == self.selected_slot()), None)
        self.rollback.setEnabled(slot is not None and bool(slot.last_known_good))

    def _show_disagreement(self, row: int) -> None:
        if 0 <= row < len(self.vm.disagreements):
            d = self.vm.disagreements[row]
            caption = (f"part {d.part_id}: production {'REJECT' if d.production_rejects else 'PASS'}, "
                       f"candidate {'REJECT' if d.candidate_rejects else 'PASS'}")
            self.image.show_part(d.image_path, [], caption)

    def _choose_later(self, package_id: str) -> None:
        """After the list's signal: choosing re-renders the list the signal came from."""
        QTimer.singleShot(0, lambda: self._guard(lambda: self.vm.choose(package_id)))

    def _review_chosen(self) -> None:
        row = self.disagreements.currentRow()
        if not 0 <= row < len(self.vm.disagreements):
            self.on_error(InspectorError("choose a disagreement first"))
            return
        d = self.vm.disagreements[row]
        if self.on_review is not None:
            self.on_review((d.camera, d.part_id))

    def show_page(self, page: QWidget) -> None:
        self.pages.setCurrentWidget(page)
        self.gate_button.setChecked(page is self.gate_text)
        self.disagreement_button.setChecked(page is self.disagreement_page)

    def show_gate_report(self) -> None:
        self.gate_text.setPlainText(self.vm.gate_report_text())
        self.show_page(self.gate_text)

    def selected_slot(self) -> str | None:
        item = self.slots.currentItem()
        return item.data(Qt.UserRole) if item is not None else None

    # -- rollback ---------------------------------------------------------------------------
    def _ask_signature(self) -> None:
        slot = next((s for s in self.vm.slots if s.slot == self.selected_slot()), None)
        if slot is None:
            self.on_error(InspectorError("choose a model slot first"))
            return
        self.signature.start(f"Roll slot {slot.slot} back from {slot.label} to {slot.last_known_good}. "
                             "Give a reason and type your PIN again to sign.")
        self.show_page(self.signature)

    def _sign(self, pin: str, reason: str) -> None:
        slot = self.selected_slot() or "primary"
        try:
            self.vm.rollback(pin, reason, slot)
        except InspectorError as err:
            self.on_error(err)
            return
        self.show_page(self.gate_text)
        self.gate_text.setPlainText("Rolled back: " + self.vm.last_rollback.text())

    def _guard(self, action: Callable[[], object]) -> None:
        try:
            action()
        except InspectorError as err:
            self.on_error(err)
