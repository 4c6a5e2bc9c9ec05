"""The HMI's view-models and stores, without Qt: real SQLite, real audit trail, real PBKDF2."""

from __future__ import annotations

import json
import sqlite3

import pytest
import yaml

from hmi.alarm_vm import AlarmBoardView
from hmi.operator_vm import OperatorViewModel, shift_start
from hmi.review_vm import ReviewViewModel
from hmi.roles import AccessDenied, HmiError, LoginFailed
from hmi.users import Session
from inspector.alarms.board import AlarmBoard
from inspector.alarms.board_store import BoardStore
from inspector.messages import Alarm, Detection
from inspector.records.parts import ReviewFilter
from tests.hmi.conftest import CLASSES, a_decision, login


def operator_vm(db, session, audit, alarms=None, **kw) -> OperatorViewModel:
    alarms = alarms or AlarmBoardView("station-1", str(db.path.parent / "state"), session, audit, None)
    return OperatorViewModel(db, session, audit, alarms, budget_ms=250.0, shift_start_t=0.0, **kw)


# -- users, roles, sessions ------------------------------------------------------------------


def test_pins_are_stored_as_salted_hashes_and_checked(db, users):
    rows = db.conn.execute("SELECT name, salt, pin_hash FROM hmi_users").fetchall()
    assert len(rows) == 3
    assert all(b"1111" not in bytes(r["pin_hash"]) and b"1111" not in bytes(r["salt"]) for r in rows)
    assert len({bytes(r["salt"]) for r in rows}) == 3, "every user has their own salt"
    assert users.verify("olga", "1111").role == "operator"
    with pytest.raises(LoginFailed):
        users.verify("olga", "1112")
    with pytest.raises(LoginFailed):
        users.verify("nobody", "1111")
    with pytest.raises(HmiError, match="PIN"):
        users.add("eve", "operator", "12")
    with pytest.raises(HmiError, match="role"):
        users.add("eve", "boss", "1234")


def test_logins_and_failed_logins_are_audited(session, audit):
    with pytest.raises(LoginFailed):
        session.login("olga", "9999")
    login(session, "olga")
    session.logout()
    actions = [(e.user, e.action) for e in audit.entries() if e.action.startswith("log")]
    assert actions == [("olga", "login_failed"), ("olga", "login"), ("olga", "logout")]
    assert audit.verify() is None


def test_idle_session_logs_out_and_then_every_action_is_refused(users, audit):
    now = [1000.0]
    session = Session(users, audit, idle_timeout_s=60, clock=lambda: now[0])
    login(session, "quinn")
    now[0] += 59
    assert not session.expire_if_idle()
    session.touch()
    now[0] += 60
    assert session.expire_if_idle()
    assert session.user is None
    assert audit.latest("logout").after == {"reason": "idle for 60s"}
    with pytest.raises(AccessDenied):
        ReviewViewModel(session.users.db, session, audit, CLASSES, users.db.path.parent / "datasets").load()


def test_an_operator_may_mark_rejects_but_not_review_relabel_or_export(db, session, audit, tmp_path):
    login(session, "olga")
    review = ReviewViewModel(db, session, audit, CLASSES, tmp_path / "datasets")
    for action in (review.load, review.export, lambda: review.bulk_label("good")):
        with pytest.raises(AccessDenied, match="olga \\(operator\\)"):
            action()


# -- operator screen ---------------------------------------------------------------------------


def test_live_decisions_count_at_once_and_are_not_counted_again_once_recorded(line, db, session, audit):
    vm = operator_vm(db, session, audit)
    decisions = [a_decision(1, "PASS"), a_decision(2, "REJECT"), a_decision(3, "FAILSAFE_REJECT")]
    vm.handle(decisions)
    assert (vm.counts.inspected, vm.counts.passed, vm.counts.rejected, vm.counts.failsafe_rejects) == (3, 1, 1, 1)
    assert vm.current.part_id == 3 and vm.current.result == "FAILSAFE_REJECT"
    assert [r.part_id for r in vm.recent_rejects] == [3, 2]
    line.record(decisions[0])
    line.record(decisions[1])
    vm.refresh()
    assert vm.counts.inspected == 3, "two from the database, one still only live"
    line.record(decisions[2])
    vm.handle([decisions[2]])  # a repeated message
    vm.refresh()
    assert (vm.counts.inspected, vm.counts.rejected, vm.counts.failsafe_rejects) == (3, 1, 1)
    assert vm.image_part is not None and vm.image_part.part_id == 3


def test_marking_a_false_reject_updates_counts_database_and_audit(line, db, session, audit):
    for d in (a_decision(1, "REJECT"), a_decision(2, "REJECT"), a_decision(3, "PASS"), a_decision(4, "PASS")):
        line.record(d)
    vm = operator_vm(db, session, audit)
    vm.refresh()
    login(session, "olga")
    vm.mark(("top", 1), "false_reject")
    assert vm.counts.false_rejects == 1
    assert vm.counts.false_reject_rate == pytest.approx(1 / 4)
    row = db.conn.execute("SELECT mark, user, result FROM reject_marks WHERE part_id = 1").fetchone()
    assert tuple(row) == ("false_reject", "olga", "REJECT")
    entry = audit.latest("reject_mark", "part:top:1")
    assert (entry.user, entry.before, entry.after) == ("olga", {"mark": None}, {"mark": "false_reject", "result": "REJECT"})
    vm.mark(("top", 1), "true_defect")  # changing one's mind is recorded too
    assert (vm.counts.false_rejects, vm.counts.confirmed_defects) == (0, 1)
    assert audit.latest("reject_mark", "part:top:1").before == {"mark": "false_reject"}
    with pytest.raises(HmiError, match="not rejected"):
        vm.mark(("top", 3), "false_reject")


def a_board(tmp_path, now: float) -> AlarmBoard:
    """The station's real alarm board (as the actuator keeps it), on disk in ``tmp_path``."""
    return AlarmBoard("station-1", BoardStore(tmp_path / "board"), unacked_keep_s=3600, max_shelve_s=8 * 3600,
                      owners=None, now=now)


def test_the_detector_light_is_not_green_while_the_line_is_stopped(db, session, audit):
    now = [2000.0]
    vm = operator_vm(db, session, audit, clock=lambda: now[0])
    vm.handle([a_decision(i, "PASS", t_trigger=now[0] - 1) for i in range(1, 4)])
    assert vm.lights["detector"].state == "ok"
    now[0] += 60  # no part for a minute
    vm.refresh()
    assert vm.line_stopped and vm.lights["detector"].state == "stale" and "line stopped" in vm.lights["detector"].text


def test_lights_follow_fail_safes_plc_delivery_and_alarms(db, session, audit, tmp_path):
    now = [2000.0]
    vm = operator_vm(db, session, audit, clock=lambda: now[0])
    vm.handle([a_decision(i, "PASS", t_trigger=now[0] - 1) for i in range(1, 4)])
    assert {k: v.state for k, v in vm.lights.items()} == {"camera": "ok", "detector": "ok", "PLC": "ok", "storage": "ok"}
    vm.handle([a_decision(i, "FAILSAFE_REJECT", t_trigger=now[0] - 1) for i in range(4, 8)])
    assert vm.lights["detector"].state == "fault"
    vm.handle([a_decision(8, "PASS", t_trigger=now[0], plc_delivered=False)])
    assert vm.lights["PLC"].state == "fault"
    now[0] += 10
    board = a_board(tmp_path, now[0])
    board.apply(Alarm("station-1", "actuator", "plc_connection_lost", "critical", "PLC unreachable", now[0]), now[0])
    vm.handle([board.state(now[0])])
    assert vm.lights["camera"].state == "stale" and vm.lights["camera"].text == "line stopped: no part for 10 s"
    assert vm.lights["storage"].state == "warn", "live parts the recorder has not stored for 10 s"
    assert vm.alarm_count == 1 and "PLC unreachable" in vm.alarm_latest.text
    assert vm.lights["PLC"].state == "fault" and vm.lights["PLC"].text == "PLC unreachable"


def test_alarms_shown_are_the_boards_and_the_acknowledgement_goes_to_it_audited(db, session, audit, tmp_path):
    now = 100.0
    board = a_board(tmp_path, now)
    sent = []

    def keeper(command):  # what the actuator does with an HMI's command: onto the board, which comes back
        sent.append(command)
        board.command(command, now)
        return True

    alarms = AlarmBoardView("station-1", str(tmp_path / "board"), session, audit, keeper, clock=lambda: now)
    vm = operator_vm(db, session, audit, alarms=alarms)
    board.apply(Alarm("station-1", "actuator", "failsafe_decision", "warning", "part 3: FAILSAFE_REJECT", now, False, 3,
                      "event"), now)
    board.apply(Alarm("station-1", "actuator", "plc_connection_lost", "critical", "PLC unreachable", now), now)
    board.apply(Alarm("station-1", "actuator", "plc_connection_lost", "critical", "PLC back", now, False), now)
    vm.handle([board.state(now)])
    assert vm.alarm_count == 2, "an event and a condition that cleared both wait for acknowledgement"
    assert not any(e.standing(now) for e in board.entries.values()), "neither stands: the PLC's alarm tag counts 0"
    with pytest.raises(AccessDenied):
        vm.acknowledge_alarms()
    login(session, "olga")
    assert vm.acknowledge_alarms() == 2
    assert sent[0].action == "acknowledge" and sent[0].user == "olga" and sent[0].code == ""
    assert audit.latest("alarm_ack").after == {"acknowledged": 2}
    vm.handle([board.state(now)])
    assert vm.alarm_count == 0 and board.entries == {}
    board.apply(Alarm("station-1", "actuator", "failsafe_decision", "warning", "part 9", now, False, 9, "event"), now)
    vm.handle([board.state(now)])
    assert vm.alarm_count == 1, "a newer alarm needs its own acknowledgement"


def test_without_the_line_the_board_file_is_shown_and_an_acknowledgement_is_refused_audited(db, session, audit, tmp_path):
    board = a_board(tmp_path, 100.0)
    board.apply(Alarm("station-1", "supervisor", "service_down", "critical", "actuator exited", 100.0, owner=""), 100.0)
    board.flush()
    alarms = AlarmBoardView("station-1", str(tmp_path / "board"), session, audit, None, clock=lambda: 100.0)
    vm = operator_vm(db, session, audit, alarms=alarms, live=False)
    vm.refresh()
    assert vm.alarm_count == 1 and vm.alarm_latest.code == "service_down"
    login(session, "olga")
    with pytest.raises(HmiError, match="the line is not running"):
        vm.acknowledge_alarms()
    assert audit.latest("alarm_ack_not_applied") is not None


def test_shift_start_is_the_start_of_the_current_eight_hour_shift():
    import datetime as dt

    t = dt.datetime(2026, 3, 4, 15, 30).timestamp()
    assert shift_start(t) == dt.datetime(2026, 3, 4, 14, 0).timestamp()
    early = dt.datetime(2026, 3, 4, 3, 0).timestamp()
    assert shift_start(early) == dt.datetime(2026, 3, 3, 22, 0).timestamp()


# -- review screen and export ---------------------------------------------------------------


def test_review_queue_filters_by_time_class_verdict_and_reviewed(line, db, session, audit, tmp_path):
    line.record(a_decision(1, "REJECT", t_trigger=100.0))
    line.record(a_decision(2, "REJECT", t_trigger=200.0, detections=[Detection("dent", 0.8, (5.0, 5.0, 50.0, 50.0), 2025.0, True)]))
    line.record(a_decision(3, "PASS", t_trigger=300.0), image=True)  # a sampled pass
    line.record(a_decision(4, "PASS", t_trigger=400.0))  # a pass without image: not reviewable
    line.record(a_decision(5, "FAILSAFE_REJECT", t_trigger=500.0))
    login(session, "quinn")
    vm = ReviewViewModel(db, session, audit, CLASSES, tmp_path / "datasets")

    def ids(**kw) -> list[int]:
        vm.load(ReviewFilter(**kw))
        return [p.part_id for p in vm.queue]

    assert ids() == [5, 3, 2, 1]
    assert ids(verdict="reject") == [5, 2, 1]
    assert ids(verdict="pass") == [3]
    assert ids(verdict="failsafe") == [5]
    assert ids(cls="dent") == [2]
    assert ids(since=150.0, until=450.0) == [3, 2]
    vm.open(("top", 2))
    vm.save()
    assert ids(reviewed=True) == [2]
    assert ids(reviewed=False) == [5, 3, 1]


def test_relabel_edits_boxes_and_round_trips_into_an_exported_yolo_dataset(line, db, session, audit, tmp_path):
    line.record(a_decision(1, "REJECT"))
    line.record(a_decision(2, "REJECT"))
    line.record(a_decision(3, "PASS"), image=True)
    login(session, "quinn")
    vm = ReviewViewModel(db, session, audit, CLASSES, tmp_path / "datasets")
    vm.load()
    vm.open(("top", 1))
    assert vm.draft_label == "defective" and [b.cls for b in vm.draft_boxes] == ["scratch"], "the model's boxes as a start"
    vm.set_box_class(0, "crack")
    vm.move_box(0, (20.0, 40.0, 100.0, 80.0))
    vm.add_box("dent", (200.0, 10.0, 160.0, 50.0))  # drawn right to left: normalised
    vm.save()
    vm.open(("top", 2))
    vm.delete_box(0)
    with pytest.raises(HmiError, match="at least one box"):
        vm.save()
    vm.set_label("good")
    vm.save()
    vm.select({("top", 3)})
    assert vm.bulk_label("good") == 1

    result = vm.export()
    labels = {p.stem: p.read_text().split("\n") for p in result.path.glob("labels/*/*.txt")}
    assert labels["top_0000000001"][:2] == ["2 0.187500 0.250000 0.250000 0.166667", "1 0.562500 0.125000 0.125000 0.166667"]
    assert labels["top_0000000002"] == [""] and labels["top_0000000003"] == [""]
    assert len(list(result.path.glob("images/*/*.png"))) == 3
    data = yaml.safe_load(result.data_yaml.read_text())
    assert data["names"] == dict(enumerate(CLASSES)) and (result.path / data["train"]).is_dir()
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest["version"] == result.version and manifest["version"].startswith("reviewed-")
    assert {i["part_id"]: i["label"] for i in manifest["images"]} == {1: "defective", 2: "good", 3: "good"}
    entry = audit.latest("relabel", "part:top:1")
    assert entry.user == "quinn" and entry.before["label"] is None and entry.after["boxes"][0] == {"cls": "crack", "box": [20.0, 40.0, 100.0, 80.0]}
    assert audit.latest("dataset_export").after["version"] == result.version
    assert vm.export().version == result.version, "the same reviewed content is the same version"
    vm.open(("top", 3))
    vm.set_label("defective")
    vm.add_box("stain", (1.0, 1.0, 30.0, 30.0))
    vm.save()
    assert vm.export().version != result.version


def test_the_exported_dataset_is_accepted_by_ultralytics(line, db, session, audit, tmp_path):
    from ultralytics.data.utils import check_det_dataset

    for i in range(1, 6):
        line.record(a_decision(i, "REJECT"))
    login(session, "quinn")
    vm = ReviewViewModel(db, session, audit, CLASSES, tmp_path / "datasets")
    vm.load()
    vm.select({p.key for p in vm.queue})
    vm.bulk_label("defective")
    result = vm.export()
    checked = check_det_dataset(str(result.data_yaml))
    assert checked["nc"] == len(CLASSES) and checked["names"][0] == "scratch"
    assert result.train + result.val == 5 and result.val >= 1


# -- the audit trail -----------------------------------------------------------------------------


def test_a_tampered_audit_entry_is_detected(line, db, session, audit):
    line.record(a_decision(1, "REJECT"))
    vm = operator_vm(db, session, audit)
    vm.refresh()
    login(session, "olga")
    vm.mark(("top", 1), "false_reject")
    assert audit.verify() is None
    entry = audit.latest("reject_mark")
    with sqlite3.connect(audit.path) as conn:  # someone hides the false reject by rewriting the entry
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE audit SET after = ? WHERE id = ?", ('{"mark":"true_defect"}', entry.id))
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute("UPDATE audit SET after = ? WHERE id = ?", ('{"mark":"true_defect","result":"REJECT"}', entry.id))
    broken = audit.verify()
    assert broken is not None and broken.entry_id == entry.id and "edited" in broken.reason
