"""Both screens driven through their widgets (pytest-qt, offscreen), on a real database, audit trail and event socket."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPointF, Qt

from hmi.app import HmiWindow
from hmi.context import open_hmi
from hmi.users import UserDirectory, add_user
from inspector.messages import Alarm
from inspector.transport import send_message
from tests.helpers import PeerSockets
from tests.hmi.conftest import PINS, Line, a_decision


@pytest.fixture
def config(line_config):
    return line_config()


@pytest.fixture
def line(config, tmp_path):
    line = Line(tmp_path)
    assert line.database == type(line.database)(config.recorder.database), "the test line writes the config's database"
    yield line
    line.store.close()


@pytest.fixture
def ctx(config, line):
    ctx = open_hmi(config, live=True, shift_start_t=0.0)
    users = UserDirectory(ctx.db, ctx.audit, iterations=2_000)
    for name, (role, pin) in PINS.items():
        add_user(users, ctx.audit, name, role, pin, by="test")
    yield ctx
    ctx.close()


@pytest.fixture
def window(qtbot, ctx):
    window = HmiWindow(ctx, poll_ms=20, refresh_ms=200)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    return window


@pytest.fixture
def actuator_events(config):
    """The actuator's side of the event stream: a PUB socket bound where the line's actuator binds it."""
    actuator = PeerSockets(config)  # holding the actuator's key, as the observer checks
    yield actuator.open("actuator", "events")
    actuator.close()


def log_in(qtbot, window: HmiWindow, name: str) -> None:
    """Tap the user, type the PIN on the keypad, tap OK."""
    window.login.reload()
    qtbot.mouseClick(window.login.user_button(name), Qt.LeftButton)
    for digit in PINS[name][1]:
        qtbot.mouseClick(window.login.keys[digit], Qt.LeftButton)
    qtbot.mouseClick(window.login.keys["OK"], Qt.LeftButton)
    assert window.ctx.session.user is not None and window.ctx.session.user.name == name


def counter(window: HmiWindow, name: str) -> str:
    return window.operator.counters[name].value.text()


def test_the_hmi_starts_at_the_pin_login_and_a_wrong_pin_is_refused(qtbot, window):
    assert window.current_screen() == "login"
    qtbot.mouseClick(window.login.user_button("olga"), Qt.LeftButton)
    for key in ("9", "9", "9", "9", "OK"):
        qtbot.mouseClick(window.login.keys[key], Qt.LeftButton)
    assert window.current_screen() == "login" and "wrong PIN" in window.login.message.text()
    assert window.ctx.audit.latest("login_failed").user == "olga"


def test_a_verdict_arriving_updates_the_indicator_and_counters(qtbot, window, actuator_events, line):
    log_in(qtbot, window, "olga")
    assert window.current_screen() == "operator"
    decision = a_decision(7, "REJECT")

    def shown() -> bool:
        send_message(actuator_events, decision)  # repeated until the subscriber is connected; counted once
        return window.operator.indicator.text() == "REJECT"

    qtbot.waitUntil(shown, timeout=15_000)
    assert window.operator.part_caption.text().startswith("part 7 ")
    assert (counter(window, "inspected"), counter(window, "rejected"), counter(window, "passed")) == ("1", "1", "0")
    assert [card.part.part_id for card in window.operator.cards] == [7]
    assert window.operator.latency.value.text().endswith("/ 2000 ms")

    line.record(decision)  # the recorder stores the part and its image a moment later
    qtbot.waitUntil(lambda: window.operator.image.pixmap is not None, timeout=10_000)
    assert window.operator.image.boxes == [("scratch 0.90", (100.0, 120.0, 180.0, 160.0), [])]
    assert counter(window, "inspected") == "1", "stored and live copies of the part count once"

    send_message(actuator_events, a_decision(8, "PASS"))
    qtbot.waitUntil(lambda: "part 8 " in window.operator.latest_caption.text() or window.operator.indicator.text() == "PASS",
                    timeout=10_000)
    if window.operator.indicator.text() == "REJECT":  # the panel holds the reject and its image a few seconds
        assert window.operator.part_caption.text().startswith("part 7 ") and window.operator.image.pixmap is not None
        assert window.operator.latest_caption.text() == "latest: part 8 · PASS"
    qtbot.waitUntil(lambda: window.operator.indicator.text() == "PASS", timeout=15_000)
    assert window.operator.part_caption.text().startswith("part 8 ") and window.operator.latest_caption.text() == ""
    assert (counter(window, "inspected"), counter(window, "passed")) == ("2", "1")


def test_marking_a_false_reject_changes_the_count_the_database_and_the_audit_trail(qtbot, window, line, ctx):
    line.record(a_decision(11, "REJECT"))
    line.record(a_decision(12, "PASS"))
    log_in(qtbot, window, "olga")
    qtbot.waitUntil(lambda: len(window.operator.cards) == 1, timeout=10_000)
    assert counter(window, "false_rejects") == "0"
    qtbot.mouseClick(window.operator.cards[0].false_reject, Qt.LeftButton)
    assert counter(window, "false_rejects") == "1", "the count updates at once"
    assert counter(window, "false_reject_rate") == "50.0%"
    row = ctx.db.conn.execute("SELECT mark, user FROM reject_marks WHERE camera = 'top' AND part_id = 11").fetchone()
    assert tuple(row) == ("false_reject", "olga")
    entry = ctx.audit.latest("reject_mark", "part:top:11")
    assert entry.user == "olga" and entry.after["mark"] == "false_reject" and entry.t > 0
    assert window.operator.cards[0].false_reject.isChecked()
    assert ctx.audit.verify() is None


def test_an_alarm_shows_a_banner_until_it_is_acknowledged(qtbot, window, config, ctx, tmp_path):
    """The actuator's side of the board: its events (the board) and its command socket (the HMI's acknowledgement)."""
    from inspector.alarms.board import AlarmBoard
    from inspector.alarms.board_store import BoardStore
    from inspector.transport import recv_message

    actuator = PeerSockets(config)
    events, commands = actuator.open("actuator", "events"), actuator.open("actuator", "alarm_commands")
    board = AlarmBoard("station-1", BoardStore(tmp_path / "keeper"), unacked_keep_s=3600, max_shelve_s=3600, owners=None,
                       now=1000.0)
    try:
        log_in(qtbot, window, "olga")
        board.apply(Alarm("station-1", "actuator", "plc_connection_lost", "critical", "PLC at 127.0.0.1 unreachable", 1000.0), 1000.0)
        board.apply(Alarm("station-1", "actuator", "plc_connection_lost", "critical", "PLC back", 1001.0, False), 1001.0)

        def shown() -> bool:
            send_message(events, board.state(1001.0))
            return window.operator.banner.isVisible() and "PLC back" in window.operator.banner_text.text()

        qtbot.waitUntil(shown, timeout=15_000)
        assert "PLC at 127.0.0.1 unreachable" not in window.operator.banner_text.text(), "cleared, still to be acknowledged"
        qtbot.mouseClick(window.operator.ack_button, Qt.LeftButton)
        assert commands.poll(5000), "the acknowledgement reaches the board's keeper"
        command = recv_message(commands)
        assert (command.action, command.user, command.role) == ("acknowledge", "olga", "operator")
        board.command(command, 1002.0)

        def gone() -> bool:
            send_message(events, board.state(1002.0))
            return not window.operator.banner.isVisible()

        qtbot.waitUntil(gone, timeout=15_000)
        assert ctx.audit.latest("alarm_ack").user == "olga"
    finally:
        actuator.close()
        board.store.close()


def test_an_operator_cannot_open_the_review_screen(qtbot, window):
    log_in(qtbot, window, "olga")
    assert not window.review_button.isEnabled()
    assert window.open_screen("review") is False
    assert window.current_screen() == "operator"
    assert "olga (operator) may not open the review screen" in window.message.text()


def test_idle_logout_returns_to_the_login_and_locks_the_screens(qtbot, window, ctx):
    log_in(qtbot, window, "quinn")
    ctx.session.idle_timeout_s = 0.0
    window.check_idle()
    assert window.current_screen() == "login" and ctx.session.user is None
    assert window.open_screen("operator") is False
    assert ctx.audit.latest("logout").after["reason"].startswith("idle")


def test_a_relabel_in_the_review_screen_round_trips_into_an_exported_dataset(qtbot, window, line, ctx):
    line.record(a_decision(21, "REJECT"))
    line.record(a_decision(22, "PASS"), image=True)
    log_in(qtbot, window, "quinn")
    qtbot.mouseClick(window.review_button, Qt.LeftButton)
    assert window.current_screen() == "review"
    review = window.review
    assert review.queue.count() == 2
    review.queue.setCurrentRow(1)  # part 21, the reject (newest first)
    assert ctx.review.current.part_id == 21 and len(review.editor.box_items) == 1, "the model's scratch box to start from"

    review.box_class.setCurrentText("crack")  # draw a crack box by dragging on the image
    viewport = review.editor.viewport()
    start, end = review.editor.mapFromScene(QPointF(20, 30)), review.editor.mapFromScene(QPointF(90, 80))
    qtbot.mousePress(viewport, Qt.LeftButton, pos=start)
    qtbot.mouseMove(viewport, pos=end)
    qtbot.mouseRelease(viewport, Qt.LeftButton, pos=end)
    qtbot.waitUntil(lambda: len(ctx.review.draft_boxes) == 2, timeout=5_000)
    drawn = ctx.review.draft_boxes[1]
    a, b = review.editor.mapToScene(start), review.editor.mapToScene(end)
    assert drawn.cls == "crack" and (drawn.x1, drawn.y1, drawn.x2, drawn.y2) == pytest.approx((a.x(), a.y(), b.x(), b.y()), abs=0.01)

    review.editor.box_items[0].setSelected(True)  # the model's box was wrong: delete it
    qtbot.mouseClick(review.delete_box, Qt.LeftButton)
    assert [box.cls for box in ctx.review.draft_boxes] == ["crack"]
    qtbot.mouseClick(review.save, Qt.LeftButton)
    assert ctx.review.current.label == "defective"

    review.queue.setCurrentRow(0)  # part 22, a sampled pass: confirm it good
    qtbot.mouseClick(review.good, Qt.LeftButton)
    qtbot.mouseClick(review.save, Qt.LeftButton)
    qtbot.mouseClick(review.export, Qt.LeftButton)

    result = ctx.review.last_export
    assert result is not None and result.images == 2 and result.version in review.status.text()
    labels = {p.stem: p.read_text().split() for p in result.path.glob("labels/*/*.txt")}
    assert labels["top_0000000022"] == []
    cls, cx, cy, w, h = labels["top_0000000021"]
    assert cls == "2"  # crack
    assert (float(cx) * 320, float(cy) * 240, float(w) * 320, float(h) * 240) == pytest.approx(
        ((a.x() + b.x()) / 2, (a.y() + b.y()) / 2, b.x() - a.x(), b.y() - a.y()), abs=0.02
    )
    relabel = ctx.audit.latest("relabel", "part:top:21")
    assert relabel.user == "quinn" and relabel.before["label"] is None and relabel.after["label"] == "defective"
    assert ctx.audit.latest("dataset_export").after["version"] == result.version
