"""What the operator screen's view-model tells about a live line, without Qt: real SQLite, real audit trail.

Marks are confirmed from the database and can be undone for a short time; a
missing image is pending only while it is still expected; stale PLC and a
stopped line show as such; alarms read as sentences with their count.
"""

from __future__ import annotations

import pytest

from hmi.alarm_text import ALARM_SENTENCES, alarm_sentence, banner_text
from hmi.alarm_vm import AlarmBoardView
from inspector.records.alarms import AlarmRecord
from hmi.operator_vm import (
    IMAGE_WAIT_S,
    PLC_STALE_S,
    REJECT_HOLD_S,
    UNDO_S,
    OperatorViewModel,
    image_note,
)
from hmi.roles import HmiError
from hmi.screens.reject_strip import mark_status
from tests.hmi.conftest import a_decision, login


def operator_vm(db, session, audit, alarms=None, **kw) -> OperatorViewModel:
    alarms = alarms or AlarmBoardView("station-1", str(db.path.parent / "state"), session, audit, None)
    return OperatorViewModel(db, session, audit, alarms, budget_ms=250.0, shift_start_t=0.0, **kw)


def test_a_mark_is_confirmed_from_the_database_and_can_be_undone_for_a_short_time(line, db, session, audit):
    now = [5000.0]
    line.record(a_decision(1, "REJECT", t_trigger=now[0] - 1))
    vm = operator_vm(db, session, audit, clock=lambda: now[0])
    vm.refresh()
    login(session, "olga")
    confirmed = vm.mark(("top", 1), "false_reject")
    assert (confirmed.part_id, confirmed.mark, confirmed.mark_user) == (1, "false_reject", "olga")
    assert mark_status(confirmed) == "✔ marked Good part by olga"
    assert vm.undo_left_s(("top", 1)) == pytest.approx(UNDO_S)
    now[0] += UNDO_S / 2
    undone = vm.undo_mark(("top", 1))
    assert undone.mark is None and db.mark_of(("top", 1)) is None and vm.counts.false_rejects == 0
    assert audit.latest("reject_mark_undo", "part:top:1").before == {"mark": "false_reject"}
    vm.mark(("top", 1), "true_defect")
    now[0] += UNDO_S + 0.1
    with pytest.raises(HmiError, match="can no longer be undone"):
        vm.undo_mark(("top", 1))
    assert db.mark_of(("top", 1)) == "true_defect"
    assert audit.verify() is None


def test_a_mark_on_a_part_the_recorder_has_not_stored_yet_shows_on_its_card(db, session, audit):
    vm = operator_vm(db, session, audit)
    vm.handle([a_decision(7, "REJECT")])  # live only: the recorder has not written part 7
    login(session, "olga")
    confirmed = vm.mark(("top", 7), "false_reject")
    assert (confirmed.part_id, confirmed.mark, confirmed.mark_user) == (7, "false_reject", "olga")
    assert [(r.part_id, r.mark) for r in vm.recent_rejects] == [(7, "false_reject")]


def test_a_missing_image_is_pending_only_while_it_is_still_expected(line, db):
    line.record(a_decision(3, "FAILSAFE_REJECT", t_trigger=100.0), image=False)
    line.record(a_decision(4, "REJECT", t_trigger=100.0), image=False)
    failsafe, reject = db.part(("top", 3)), db.part(("top", 4))
    assert image_note(failsafe, 100.0 + IMAGE_WAIT_S / 2) == "image pending"
    assert image_note(failsafe, 100.0 + IMAGE_WAIT_S + 1) == "no image (fail-safe)"
    assert image_note(reject, 100.0 + IMAGE_WAIT_S + 1) == "no image stored"
    line.record(a_decision(5, "PASS", t_trigger=100.0), image=False)
    assert image_note(db.part(("top", 5)), 100.0) == "no image (passes are sampled)", "no image is awaited for a pass"
    line.record(a_decision(6, "FAILSAFE_PASS", t_trigger=100.0), image=False)
    assert image_note(db.part(("top", 6)), 100.0) == "no image (fail-safe)"


def test_the_recorders_reason_for_a_missing_image_is_what_the_operator_reads(line, db):
    from inspector.records.store import IMAGE_NOT_STORED_DISK, IMAGE_REMOVED

    line.record(a_decision(8, "REJECT", t_trigger=100.0))
    line.store.parts.update(("top", 8), {"image_path": None, "image_note": IMAGE_REMOVED})  # as retention leaves it
    assert image_note(db.part(("top", 8)), 200.0) == "image removed by retention"
    line.record(a_decision(9, "REJECT", t_trigger=100.0), image=False)
    line.store.parts.update(("top", 9), {"image_note": IMAGE_NOT_STORED_DISK})
    assert image_note(db.part(("top", 9)), 100.0) == "image not stored: disk space critical", "not 'image pending'"


def test_the_panel_holds_the_latest_reject_with_its_image_then_shows_the_latest_part(line, db, session, audit):
    now = [1000.0]
    vm = operator_vm(db, session, audit, clock=lambda: now[0])
    line.record(a_decision(54, "REJECT", t_trigger=999.9), image=False)  # its image still on its way
    vm.refresh()
    assert vm.shown.part_id == 54 and vm.shown.image_path is None, "nothing complete to hold: the latest part"
    line.record(a_decision(55, "REJECT", t_trigger=1000.0))  # stored with its image
    vm.handle([a_decision(59, "PASS", t_trigger=1000.5)])  # newer, no image
    vm.refresh()
    assert vm.current.part_id == 59
    assert vm.shown.part_id == 55 and vm.shown.image_path, "the reject and its own image, one record"
    now[0] += REJECT_HOLD_S + 1
    vm.refresh()
    assert vm.shown.part_id == 59 and vm.shown.image_path is None, "never part 55's image beside part 59's verdict"


def test_a_stopped_line_and_an_unwritten_plc_show_as_stale(db, session, audit):
    now = [3000.0]
    vm = operator_vm(db, session, audit, clock=lambda: now[0])
    vm.handle([a_decision(1, "PASS", t_trigger=now[0] - 0.1)])
    assert (vm.lights["PLC"].state, vm.lights["PLC"].text) == ("ok", "decisions delivered")
    now[0] += PLC_STALE_S + 3
    vm.refresh()
    assert vm.lights["PLC"].state == "stale" and vm.lights["PLC"].text.startswith("no PLC write for 8 s")
    assert vm.lights["camera"].state == "stale" and vm.lights["camera"].text.startswith("line stopped")
    assert vm.line_stopped


def _alarm(code: str, text: str, part_id: int | None = None, source: str = "actuator") -> AlarmRecord:
    return AlarmRecord(1.0, source, code, "warning", text, True, part_id)


def test_alarms_read_as_plain_sentences_with_their_count():
    failsafe = _alarm("failsafe_decision", "part 296: FAILSAFE_REJECT (no verdict within the budget)", 296)
    assert banner_text(failsafe, 29) == "⚠ Fail-safe reject: part 296 got no verdict in time (and 28 more)"
    assert banner_text(failsafe, 1) == "⚠ Fail-safe reject: part 296 got no verdict in time"
    passed = _alarm("failsafe_decision", "part 12: FAILSAFE_PASS (detector error: boom)", 12)
    assert alarm_sentence(passed) == "Fail-safe pass: part 12 got no verdict (detector error: boom)"
    assert alarm_sentence(_alarm("plc_write_late", "late", 8)) == "PLC written late for part 8: the reject gate may have missed it"
    assert alarm_sentence(_alarm("image_health.focus", "camera top: focus out of limits")).startswith("Camera image check")
    assert alarm_sentence(_alarm("something_new", "it broke", source="camera:top")) == "Alarm from camera:top: it broke"


@pytest.mark.parametrize("code", sorted(ALARM_SENTENCES))
def test_every_alarm_kind_has_a_sentence_without_its_raw_code(code):
    sentence = alarm_sentence(_alarm(code, "details", 5, "detector:0"))
    assert code not in sentence and sentence[0].isupper()


def test_every_alarm_in_the_catalogue_has_a_sentence():
    """The catalogue lists every alarm the station raises (tests/unit/test_alarm_catalogue.py holds it to the source)."""
    from hmi.alarm_text import ALARM_PREFIXES
    from inspector.alarms.catalogue import CATALOGUE

    missing = [code for code in CATALOGUE if code not in ALARM_SENTENCES and code not in ALARM_PREFIXES]
    assert missing == []


@pytest.mark.parametrize("code", ["drift_brightness", "drift_scores", "image_health.focus"])
def test_alarm_families_named_by_prefix_read_as_sentences(code):
    sentence = alarm_sentence(_alarm(code, "details", None, "detector:0"))
    assert code not in sentence and sentence[0].isupper() and sentence.endswith("details")


def test_a_condition_that_cleared_reads_as_back_to_normal_an_event_as_what_happened():
    cleared = AlarmRecord(1.0, "recorder", "service_down", "critical", "recorder is running again after 1 restart(s)", False, None)
    assert alarm_sentence(cleared) == "Back to normal (recorder): recorder is running again after 1 restart(s)"
    event = AlarmRecord(1.0, "actuator", "failsafe_decision", "warning", "part 3: FAILSAFE_REJECT (no verdict within the budget)",
                        False, 3, "event")
    assert alarm_sentence(event) == "Fail-safe reject: part 3 got no verdict in time"
