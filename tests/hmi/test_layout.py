"""Both screens stay whole at 1024x768, 1280x800 and 1920x1080 with the strip full, an alarm up and parts flowing.

The test walks the widget tree: no visible widget overlaps a sibling or sticks
out of its parent, no label or button cuts its text off, every button is a
touch target of at least 15 mm at the screen's DPI (and 64 px) with a gap to
the next one, and the strip scrolls when its cards do not fit.
"""

from __future__ import annotations

import time
from itertools import pairwise

import pytest
from PySide6.QtCore import QPoint, Qt, QTimer

from hmi.alarm_text import ALARM_SENTENCES
from hmi.screens.reject_strip import CARD_GAP_PX, CARD_W
from inspector.messages import Alarm, AlarmBoardState, AlarmEntry
from inspector.records.parts import ShiftCounts
from tests.hmi.conftest import a_decision
from tests.hmi.layout_check import layout_problems
from tests.hmi.test_live_line import flowing, window  # noqa: F401 (fixtures: parts at 20 a second)
from tests.hmi.test_screens import config, ctx, line, log_in  # noqa: F401

SIZES = [(1024, 768), (1280, 800), (1920, 1080)]


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_the_operator_screen_stays_whole_with_the_strip_full_and_parts_flowing(qtbot, window, flowing, line, ctx, size):
    line.store.record([], [Alarm("station-1", "actuator", "failsafe_decision", "warning",
                                 "part 296: FAILSAFE_REJECT (no verdict within the budget)", 1.0e10, True, 296)])
    line.record(a_decision(999, "PASS", latency_ms=123456.0))  # long figures in the latency tile
    log_in(qtbot, window, "olga")
    window.resize(*size)
    strip = window.operator.strip
    qtbot.waitUntil(lambda: len(ctx.operator.recent_rejects) == 12 and window.operator.banner.isVisible(), timeout=15_000)
    if len(strip.cards) < 12:  # the strip holds still while on screen: the operator brings the new rejects in
        qtbot.mouseClick(strip.new_rejects, Qt.LeftButton)
    assert len(strip.cards) == 12
    qtbot.mouseClick(strip.cards[0].false_reject, Qt.LeftButton)  # a marked card, with Undo
    qtbot.wait(300)  # more parts, more renders
    assert window.size().toTuple() == size, "the window fits the screen (its minimum size is not larger)"
    problems = layout_problems(window)
    assert not problems, "\n".join(problems)
    bar = strip.scroll.horizontalScrollBar()
    cards_wide = 12 * CARD_W + 11 * CARD_GAP_PX
    assert cards_wide > strip.scroll.viewport().width() and bar.isVisible() and bar.maximum() > 0, "twelve cards scroll"
    places = [card.mapTo(window, QPoint(0, 0)).x() for card in strip.cards]
    assert all(b - a == CARD_W + CARD_GAP_PX for a, b in pairwise(places)), "fixed-size cards with a fixed gap"


def longest_alarm_sentence() -> tuple[str, str]:
    """The code whose sentence is longest, with a long detail text (as services write them)."""
    detail = ("camera top: 14 parts between part 9999990 and part 9999999 passed the reject gate before their "
              "decision (the detector took 840 ms, the budget is 250 ms); they were recorded fail-safe")
    code = max((c for c, s in ALARM_SENTENCES.items() if isinstance(s, str)), key=lambda c: len(ALARM_SENTENCES[c]))
    return code, detail


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_six_digit_counters_seven_digit_part_ids_and_the_longest_alarm_fit(qtbot, window, line, ctx, size, monkeypatch):
    """After a week at 10 parts a second: every figure whole, the part id readable with the line stopped, and
    the longest alarm sentence readable without hover (a tap opens it)."""
    full = ShiftCounts(inspected=999_999, passed=999_999, rejected=999_999, failsafe_rejects=999_999,
                       false_rejects=999_999, confirmed_defects=999_999)
    monkeypatch.setattr(ctx.db, "shift_counts", lambda since: full)
    code, detail = longest_alarm_sentence()
    now = time.time()
    board = AlarmBoardState("station-1", now, 1, [
        AlarmEntry("actuator", code, "actuator", "critical", "condition", detail, True, now, now, 1, 9_999_998),
        AlarmEntry("actuator", "plc_ack_timeout", "actuator", "warning", "event", "x", True, now - 5, now - 5, 1, 1),
    ])
    keeper = QTimer(interval=200, timeout=lambda: ctx.operator.alarms.on_board(board))  # the actuator's board, live
    keeper.start()
    ctx.operator.alarms.on_board(board)
    for part_id in range(9_999_988, 10_000_000):
        line.record(a_decision(part_id, "REJECT", t_trigger=time.time() - 120 + part_id % 100))  # the line stopped since
    log_in(qtbot, window, "olga")
    window.resize(*size)
    screen = window.operator
    qtbot.waitUntil(lambda: screen.counters["inspected"].value.text().replace("\u202f", "") == "999999" and screen.banner.isVisible()
                    and detail[:40] in screen.banner_text.full_text and screen.part_caption.text().startswith("part 9999999 "), timeout=15_000)
    qtbot.wait(300)
    assert screen.part_caption.text().endswith("line stopped")
    assert [c.part.part_id for c in screen.strip.cards][:1] == [9_999_999]
    problems = layout_problems(window)
    assert not problems, "\n".join(problems)
    for tile in screen.counters.values():
        assert tile.value.fontInfo().pixelSize() >= 24, f"{tile.title.text()}: {tile.value.fontInfo().pixelSize()} px"
    sentence = screen.banner_text.full_text
    assert code and len(sentence) > 150
    if screen.banner_text.shortened:  # no hover on a touchscreen: a tap opens the whole sentence
        qtbot.mouseClick(screen.banner_text, Qt.LeftButton)
        qtbot.wait(100)
        assert screen.banner_text.text() == sentence
        problems = layout_problems(window)
        assert not problems, "\n".join(problems)
        qtbot.mouseClick(screen.banner_text, Qt.LeftButton)
        qtbot.wait(50)
        assert screen.banner.height() == screen.banner.minimumHeight() and screen.banner_text.shortened
    keeper.stop()


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_the_review_screen_stays_whole_and_shows_more_than_three_rows(qtbot, window, flowing, line, ctx, size):
    for part_id in range(1, 30):
        line.record(a_decision(part_id, "REJECT"))
    log_in(qtbot, window, "quinn")
    window.resize(*size)
    qtbot.mouseClick(window.review_button, Qt.LeftButton)
    review = window.review
    review.queue.setCurrentRow(0)
    qtbot.wait(200)
    assert window.size().toTuple() == size
    problems = layout_problems(window)
    assert not problems, "\n".join(problems)
    rows_shown = review.queue.viewport().height() // review.queue.sizeHintForRow(0)
    assert rows_shown > 3, f"the queue shows {rows_shown} rows"


def test_the_review_button_stays_put_whatever_the_user_name(qtbot, window, ctx):
    from hmi.users import UserDirectory, add_user

    add_user(UserDirectory(ctx.db, ctx.audit, iterations=2_000), ctx.audit, "maximiliane-wolfschlegelsteinhausen", "quality", "4444", by="test")
    log_in(qtbot, window, "quinn")
    place = window.review_button.mapTo(window, QPoint(0, 0))
    window.logout()
    window.login.reload()
    assert window.ctx.session.login("maximiliane-wolfschlegelsteinhausen", "4444")
    window.open_screen("operator")
    assert window.review_button.mapTo(window, QPoint(0, 0)) == place
    problems = layout_problems(window)
    assert not problems, "\n".join(problems)
