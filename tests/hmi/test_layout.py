"""Both screens stay whole at 1024x768, 1280x800 and 1920x1080 with the strip full, an alarm up and parts flowing.

The test walks the widget tree: no visible widget overlaps a sibling or sticks
out of its parent, no label or button cuts its text off, every button is a
touch target of at least 15 mm at the screen's DPI (and 64 px) with a gap to
the next one, and the strip scrolls when its cards do not fit.
"""

from __future__ import annotations

from itertools import pairwise

import pytest
from PySide6.QtCore import QPoint, Qt

from hmi.screens.reject_strip import CARD_GAP_PX, CARD_W
from inspector.messages import Alarm
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
    qtbot.waitUntil(lambda: len(strip.cards) == 12 and window.operator.banner.isVisible(), timeout=15_000)
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
