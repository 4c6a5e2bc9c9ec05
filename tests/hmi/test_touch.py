"""Touch with gloves (pytest-qt, offscreen): swipe scrolling of the reject strip and the review queue, readable box labels."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QScroller

from hmi.screens.style import BOX_LABEL_PX
from tests.hmi.conftest import a_decision
from tests.hmi.test_live_line import window  # noqa: F401 (fixtures)
from tests.hmi.test_screens import config, ctx, line, log_in  # noqa: F401


def swipe(qtbot, widget, start: QPoint, end: QPoint, steps: int = 12) -> None:
    """Drag a finger (the left button) from ``start`` to ``end`` across ``widget``, through its window as a
    screen's events come: each one goes to whatever is under the finger (a card, a label, the strip)."""
    window = widget.window().windowHandle()
    to_window = lambda p: widget.mapTo(widget.window(), p)
    QTest.mousePress(window, Qt.LeftButton, Qt.NoModifier, to_window(start))
    for i in range(1, steps + 1):
        QTest.mouseMove(window, to_window(start + (end - start) * i / steps))
        qtbot.wait(15)
    QTest.mouseRelease(window, Qt.LeftButton, Qt.NoModifier, to_window(end))


def test_a_swipe_scrolls_the_reject_strip_and_pauses_it(qtbot, window, line, ctx):
    for part_id in range(1, 13):
        line.record(a_decision(part_id, "REJECT"))
    log_in(qtbot, window, "olga")
    strip = window.operator.strip
    bar = strip.scroll.horizontalScrollBar()
    qtbot.waitUntil(lambda: len(strip.cards) == 12 and bar.maximum() > 0, timeout=10_000)  # laid out
    viewport = strip.scroll.viewport()
    assert QScroller.hasScroller(viewport)
    y = 100  # across the cards' captions
    swipe(qtbot, viewport, QPoint(viewport.width() - 20, y), QPoint(20, y))
    qtbot.waitUntil(lambda: bar.value() > 200, timeout=10_000)
    assert not ctx.db.conn.execute("SELECT count(*) FROM reject_marks").fetchone()[0], "a swipe marks nothing"
    line.record(a_decision(13, "REJECT"))
    qtbot.waitUntil(lambda: strip.new_rejects.isEnabled(), timeout=10_000)
    assert 13 not in [c.part.part_id for c in strip.cards], "scrolled away from the start: the strip holds still"
    qtbot.mouseClick(strip.new_rejects, Qt.LeftButton)
    assert bar.value() == 0 and strip.cards[0].part.part_id == 13


def test_a_swipe_scrolls_the_review_queue(qtbot, window, line, ctx):
    for part_id in range(1, 40):
        line.record(a_decision(part_id, "REJECT"))
    log_in(qtbot, window, "quinn")
    qtbot.mouseClick(window.review_button, Qt.LeftButton)
    queue = window.review.queue
    assert queue.count() == 39
    qtbot.waitUntil(lambda: queue.verticalScrollBar().maximum() > 0, timeout=10_000)
    viewport = queue.viewport()
    x = viewport.width() // 2
    swipe(qtbot, viewport, QPoint(x, viewport.height() - 20), QPoint(x, 20))
    qtbot.waitUntil(lambda: queue.verticalScrollBar().value() > 100, timeout=10_000)


def test_box_labels_are_readable_and_do_not_overlap(qtbot, window, line, ctx):
    line.record(a_decision(5, "REJECT"))
    log_in(qtbot, window, "quinn")
    qtbot.mouseClick(window.review_button, Qt.LeftButton)
    review = window.review
    review.queue.setCurrentRow(0)
    for cls in ("dent", "crack", "stain"):  # three more boxes on top of the model's scratch
        ctx.review.add_box(cls, (102.0, 121.0, 178.0, 158.0))
    editor = review.editor
    assert len(editor.box_items) == 4
    for size in ((1920, 1080), (1024, 768)):
        window.resize(*size)
        qtbot.wait(50)
        on_screen = [item.plate.deviceTransform(editor.viewportTransform()).mapRect(item.plate.boundingRect())
                     for item in editor.box_items]
        for item, rect in zip(editor.box_items, on_screen):
            assert item.label.font().pixelSize() >= BOX_LABEL_PX and rect.height() >= BOX_LABEL_PX
        for i, a in enumerate(on_screen):
            for b in on_screen[i + 1:]:
                assert not a.intersects(b), f"labels overlap at {size}: {a} {b}"


@pytest.fixture(scope="module")
def finger():
    """A touchscreen, as Qt sees one (events come as touch, not as a mouse)."""
    return QTest.createTouchDevice()


def finger_swipe(qtbot, finger, widget, start: QPoint, end: QPoint, steps: int = 12) -> None:
    window = widget.window()
    at = lambda p: widget.mapTo(window, p)
    QTest.touchEvent(window, finger).press(0, at(start)).commit()
    for i in range(1, steps + 1):
        QTest.touchEvent(window, finger).move(0, at(start + (end - start) * i / steps)).commit()
        qtbot.wait(15)
    QTest.touchEvent(window, finger).release(0, at(end)).commit()


def test_a_finger_swipes_the_strip_and_a_finger_tap_marks_a_card(qtbot, window, line, ctx, finger):
    for part_id in range(1, 13):
        line.record(a_decision(part_id, "REJECT"))
    log_in(qtbot, window, "olga")
    strip = window.operator.strip
    bar = strip.scroll.horizontalScrollBar()
    qtbot.waitUntil(lambda: len(strip.cards) == 12 and bar.maximum() > 0, timeout=10_000)
    viewport = strip.scroll.viewport()
    left, right = QPoint(20, 100), QPoint(viewport.width() - 20, 100)
    finger_swipe(qtbot, finger, viewport, right, left)
    qtbot.waitUntil(lambda: bar.value() > 200, timeout=10_000)
    finger_swipe(qtbot, finger, viewport, left, right)  # and back to the start
    scroller = QScroller.scroller(viewport)
    qtbot.waitUntil(lambda: bar.value() == 0 and scroller.state() == QScroller.Inactive, timeout=10_000)  # at rest
    # (a tap on a strip still gliding stops it, as on any touch list, and marks nothing)

    card = strip.cards[2]
    button = card.false_reject
    centre = button.mapTo(window, button.rect().center())
    QTest.touchEvent(window, finger).press(0, centre).commit()
    QTest.touchEvent(window, finger).release(0, centre).commit()
    qtbot.waitUntil(lambda: ctx.db.mark_of(card.part.key) == "false_reject", timeout=10_000)
    assert card.status.text() == "✔ marked Good part by olga"
