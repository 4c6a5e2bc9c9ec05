"""The alarms page driven through its widgets: a quality engineer shelves a standing alarm with a reason and takes it
off the shelf; what reaches the board's keeper (the actuator's command socket, CURVE) and the audit trail."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt

from hmi.app import HmiWindow
from hmi.context import open_hmi
from hmi.users import UserDirectory, add_user
from inspector.alarms.board import AlarmBoard
from inspector.alarms.board_store import BoardStore
from inspector.messages import Alarm
from inspector.transport import recv_message, send_message
from tests.helpers import PeerSockets
from tests.hmi.conftest import PINS, Line
from tests.hmi.test_quality_screens import open_quality
from tests.hmi.test_screens import log_in


@pytest.fixture
def config(line_config):
    return line_config()


@pytest.fixture
def keeper(config, tmp_path):
    """The actuator's side: its event stream (the board) and its command socket, and a real board."""
    peers = PeerSockets(config)
    events, commands = peers.open("actuator", "events"), peers.open("actuator", "alarm_commands")
    board = AlarmBoard("station-1", BoardStore(tmp_path / "keeper"), unacked_keep_s=3600, max_shelve_s=8 * 3600,
                       owners=None, now=time.time())
    yield board, events, commands
    peers.close()
    board.store.close()


@pytest.fixture
def window(qtbot, config, tmp_path):
    line = Line(tmp_path)
    ctx = open_hmi(config, live=True, shift_start_t=0.0)
    users = UserDirectory(ctx.db, ctx.audit, iterations=2_000)
    for name, (role, pin) in PINS.items():
        add_user(users, ctx.audit, name, role, pin, by="test")
    window = HmiWindow(ctx, poll_ms=20, refresh_ms=100)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    yield window
    ctx.close()
    line.store.close()


def test_a_quality_engineer_shelves_a_standing_alarm_with_a_reason_and_returns_it(qtbot, window, keeper):
    board, events, commands = keeper
    now = time.time()
    board.apply(Alarm("station-1", "camera:top", "image_health.focus", "warning", "camera top: focus out of limits", now), now)
    log_in(qtbot, window, "quinn")
    open_quality(qtbot, window, "alarms")
    page = window.quality.alarms

    def listed() -> bool:
        send_message(events, board.state(time.time()))
        return page.list.count() == 1 and "STANDING" in page.list.item(0).text()

    qtbot.waitUntil(listed, timeout=15_000)
    assert "Camera image check out of limits" in page.list.item(0).text()
    qtbot.mouseClick(page.shelve_button, Qt.LeftButton)
    assert "tap an alarm" in window.message.text(), "nothing chosen: nothing shelved"
    page.list.setCurrentRow(0)
    page.reason.setCurrentIndex(1)
    page.hours.setCurrentIndex(0)
    qtbot.mouseClick(page.shelve_button, Qt.LeftButton)
    assert commands.poll(5000)
    command = recv_message(commands)
    assert (command.action, command.user, command.role, command.reason, command.shelve_s) == (
        "shelve", "quinn", "quality", "Known fault, repair scheduled", 3600.0)
    assert window.ctx.audit.latest("alarm_shelve").after == {"reason": "Known fault, repair scheduled", "hours": 1.0}
    board.command(command, time.time())

    def shelved() -> bool:
        send_message(events, board.state(time.time()))
        return "shelved by quinn" in page.list.item(0).text()

    qtbot.waitUntil(shelved, timeout=15_000)
    assert window.operator.vm.alarm_count == 0, "shelved: off the operator's list"
    page.list.setCurrentRow(0)
    qtbot.mouseClick(page.unshelve_button, Qt.LeftButton)
    assert commands.poll(5000) and recv_message(commands).action == "unshelve"
