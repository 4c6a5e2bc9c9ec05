"""The operator screen under a live line (pytest-qt, offscreen): parts keep arriving while the operator taps.

Parts are written to the real recorder database at 20 a second (every other
one a reject, with its image) by the test's timer, the way the recorder
writes them; the window re-reads the database every 100 ms, so the strip of
recent rejects would reflow many times while a finger is down.
"""

from __future__ import annotations


import pytest
from PySide6.QtCore import QPoint, Qt

from hmi.app import HmiWindow
from hmi.screens.reject_strip import RejectStrip
from hmi.screens.style import RESULT_TEXT
from tests.hmi.conftest import a_decision, parts_flowing
from tests.hmi.test_screens import config, ctx, line, log_in  # noqa: F401 (fixtures: the real station's database)

PARTS_PER_S = 20
TRIALS = 30


@pytest.fixture
def flowing(qtbot, line):
    """The line: a part every 50 ms, every other one a reject."""
    timer = parts_flowing(line, PARTS_PER_S, 1000)
    yield timer
    timer.stop()


@pytest.fixture
def window(qtbot, ctx):  # noqa: F811
    window = HmiWindow(ctx, poll_ms=20, refresh_ms=100)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    return window


def test_good_part_marks_the_card_the_finger_is_on_while_parts_keep_arriving(qtbot, window, flowing, ctx):
    log_in(qtbot, window, "olga")
    strip: RejectStrip = window.operator.strip
    vm = ctx.operator
    marked: dict[tuple[str, int], str] = {}
    for trial in range(TRIALS):
        qtbot.waitUntil(lambda: not strip.paused() and len(strip.cards) >= 3
                        and [c.part.key for c in strip.cards] == [p.key for p in vm.recent_rejects], timeout=15_000)
        card = next(c for c in strip.cards[:4] if c.part.mark is None)
        seen, place = card.part.key, card.mapTo(window, QPoint(0, 0))
        qtbot.mousePress(card.false_reject, Qt.LeftButton)
        newest = vm.recent_rejects[0].key
        qtbot.waitUntil(lambda newest=newest: vm.recent_rejects[0].key != newest, timeout=15_000)  # rejects arrive under the finger
        window.operator.strip.host.layout().activate()
        assert card in strip.cards and card.part.key == seen, f"trial {trial}: the card under the finger changed"
        assert card.mapTo(window, QPoint(0, 0)) == place, f"trial {trial}: the card moved under the finger"
        qtbot.mouseRelease(card.false_reject, Qt.LeftButton)

        row = ctx.db.conn.execute("SELECT mark, user FROM reject_marks WHERE camera = ? AND part_id = ?", seen).fetchone()
        assert row is not None and tuple(row) == ("false_reject", "olga"), f"trial {trial}: part {seen[1]} was not marked"
        marked[seen] = "false_reject"
        assert card.status.text() == "✔ marked Good part by olga" and card.false_reject.isChecked()
        assert card.undo.isVisible()
        qtbot.waitUntil(strip.new_rejects.isEnabled, timeout=15_000)
        assert strip.new_rejects.text().split()[1] == "new" and int(strip.new_rejects.text().split()[0]) >= 1
        qtbot.mouseClick(strip.new_rejects, Qt.LeftButton)  # "N new rejects": bring them in

    stored = {(r[0], r[1]): r[2] for r in ctx.db.conn.execute("SELECT camera, part_id, mark FROM reject_marks")}
    assert stored == marked, "every mark on the part its card showed, and no other part marked"
    assert ctx.audit.verify() is None


def test_undo_on_the_card_takes_the_mark_back(qtbot, window, flowing, ctx):
    log_in(qtbot, window, "olga")
    strip = window.operator.strip
    qtbot.waitUntil(lambda: len(strip.cards) >= 2, timeout=15_000)
    card = strip.cards[1]
    qtbot.mouseClick(card.true_defect, Qt.LeftButton)
    assert ctx.db.mark_of(card.part.key) == "true_defect" and card.status.text() == "✔ marked Defect by olga"
    qtbot.mouseClick(card.undo, Qt.LeftButton)
    assert ctx.db.mark_of(card.part.key) is None
    assert card.status.text() == "not marked" and not card.undo.isVisible()


def test_the_verdict_its_caption_and_its_image_are_always_one_part(qtbot, window, flowing, ctx):
    """Half the parts are rejects: the panel shows the newest reject whose image is stored, never mixed."""
    log_in(qtbot, window, "olga")
    screen = window.operator
    seen, with_image = set(), 0
    qtbot.waitUntil(lambda: ctx.operator.shown is not None, timeout=15_000)
    for _ in range(20):
        part = ctx.operator.shown
        qtbot.waitUntil(lambda part=part: ctx.operator.shown.key != part.key, timeout=15_000)  # the panel moved on
        shown = ctx.operator.shown
        number = screen.part_caption.text().split()[1]
        assert number == str(shown.part_id)
        assert screen.image.caption.startswith(f"part {number} · "), (screen.part_caption.text(), screen.image.caption)
        assert screen.indicator.text() == RESULT_TEXT[shown.result]
        latest = ctx.operator.current
        if latest.key != shown.key:
            assert screen.latest_caption.text() == f"latest: part {latest.part_id} · {RESULT_TEXT[latest.result]}"
        with_image += screen.image.pixmap is not None
        seen.add(number)
    assert len(seen) > 5
    assert with_image >= 10, "at line rate the panel shows rejects with their images, not 'image pending'"


def test_a_stopped_line_shows_stale_lights_and_says_line_stopped(qtbot, window, line, ctx):
    import time

    line.record(a_decision(77, "PASS", t_trigger=time.time() - 60))  # the last part, a minute ago
    log_in(qtbot, window, "olga")
    screen = window.operator
    qtbot.waitUntil(lambda: screen.part_caption.text().startswith("part 77 "), timeout=10_000)
    assert screen.part_caption.text().endswith("line stopped")
    assert screen.lights["camera"].state == "stale" and "line stopped: no part for" in screen.lights["camera"].text.full_text
    assert screen.lights["PLC"].state == "stale" and "no PLC write for 6" in screen.lights["PLC"].text.full_text
    assert "#546e7a" in screen.indicator.styleSheet(), "the last verdict greyed: nothing is passing now"
