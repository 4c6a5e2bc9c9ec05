"""PIN login: tap your name, type your PIN on the keypad, OK."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QButtonGroup, QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from hmi.roles import ROLE_TITLES
from hmi.users import User


class LoginScreen(QWidget):
    def __init__(self, users: Callable[[], list[User]], on_login: Callable[[str, str], str | None], parent: QWidget | None = None) -> None:
        """``on_login(name, pin)`` returns an error text, or None when the login worked."""
        super().__init__(parent)
        self.users = users
        self.on_login = on_login
        self.pin = ""
        layout = QVBoxLayout(self)
        title = QLabel("Log in")
        title.setStyleSheet("font-size: 36px; font-weight: bold;")
        layout.addWidget(title, alignment=Qt.AlignHCenter)
        self.user_row = QHBoxLayout()
        layout.addLayout(self.user_row)
        self.user_group = QButtonGroup(self)
        self.user_group.setExclusive(True)
        self.pin_label = QLabel("")
        self.pin_label.setAlignment(Qt.AlignCenter)
        self.pin_label.setStyleSheet("font-size: 40px; letter-spacing: 12px; min-height: 64px; background: #37474f; border-radius: 8px;")
        layout.addWidget(self.pin_label)
        pad = QGridLayout()
        self.keys: dict[str, QPushButton] = {}
        for i, key in enumerate(["1", "2", "3", "4", "5", "6", "7", "8", "9", "Clear", "0", "OK"]):
            button = QPushButton(key)
            button.setMinimumSize(120, 80)
            button.setStyleSheet("font-size: 30px;")
            button.clicked.connect(lambda _=False, k=key: self.press(k))
            pad.addWidget(button, i // 3, i % 3)
            self.keys[key] = button
        layout.addLayout(pad)
        self.message = QLabel("")
        self.message.setAlignment(Qt.AlignCenter)
        self.message.setStyleSheet("color: #ff8a80; font-size: 22px;")
        layout.addWidget(self.message)
        layout.addStretch(1)
        self.reload()

    def reload(self) -> None:
        for button in self.user_group.buttons():
            self.user_group.removeButton(button)
            button.deleteLater()
        for user in self.users():
            button = QPushButton(f"{user.name}\n{ROLE_TITLES.get(user.role, user.role)}")
            button.setCheckable(True)
            button.setMinimumHeight(96)
            button.setProperty("user", user.name)
            self.user_group.addButton(button)
            self.user_row.addWidget(button)
        self.pin = ""
        self._show_pin()

    def user_button(self, name: str) -> QPushButton:
        return next(b for b in self.user_group.buttons() if b.property("user") == name)

    def press(self, key: str) -> None:
        if key == "Clear":
            self.pin = ""
        elif key == "OK":
            self._submit()
            return
        elif len(self.pin) < 8:
            self.pin += key
        self._show_pin()

    def _show_pin(self) -> None:
        self.pin_label.setText("●" * len(self.pin))

    def _submit(self) -> None:
        chosen = self.user_group.checkedButton()
        if chosen is None:
            self.message.setText("Tap your name first")
            return
        error = self.on_login(chosen.property("user"), self.pin)
        self.pin = ""
        self._show_pin()
        self.message.setText(error or "")
