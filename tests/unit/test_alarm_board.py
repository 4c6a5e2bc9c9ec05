"""The alarm board's states (ISA-18.2): raised and cleared by owners, restated, acknowledged, shelved, on disk."""

from __future__ import annotations

import pytest

from inspector.alarms.board import AlarmBoard, AlarmCommandRefused
from inspector.alarms.board_store import BoardStore, read_board, standing_alarms
from inspector.alarms.owner import AlarmOwner
from inspector.messages import Alarm, AlarmCommand, AlarmStanding

T0 = 1_000.0


def board_in(tmp_path, *, owners=None, now=T0, keep_s=3600.0) -> AlarmBoard:
    return AlarmBoard("station-1", BoardStore(tmp_path), unacked_keep_s=keep_s, max_shelve_s=8 * 3600, owners=owners, now=now)


def raised(source: str, code: str, severity="critical", text="down", owner="") -> Alarm:
    return Alarm("station-1", source, code, severity, text, T0, True, None, "condition", owner)


def cleared(source: str, code: str, owner="") -> Alarm:
    return Alarm("station-1", source, code, "critical", "back", T0, False, None, "condition", owner)


def command(action: str, source="", code="", role="operator", reason="", shelve_s=0.0) -> AlarmCommand:
    return AlarmCommand("station-1", action, source, code, "someone", role, T0, reason, shelve_s)


def test_a_condition_stands_until_its_owner_clears_it_and_then_waits_for_acknowledgement(tmp_path):
    board = board_in(tmp_path)
    board.apply(raised("actuator", "plc_connection_lost"), T0)
    assert board.critical_standing(T0) == 1
    board.apply(cleared("actuator", "plc_connection_lost"), T0 + 1)
    assert board.critical_standing(T0 + 1) == 0, "cleared: no longer counted on the PLC's alarm tag"
    entry = board.entries[("actuator", "plc_connection_lost")]
    assert not entry.active and entry.shown(T0 + 1), "returned to normal, unacknowledged: still on the operator's list"
    assert board.command(command("acknowledge"), T0 + 2) == 1
    assert board.entries == {}


def test_an_acknowledged_alarm_stays_while_active_and_goes_when_it_clears(tmp_path):
    board = board_in(tmp_path)
    board.apply(raised("recorder", "image_store_failed"), T0)
    board.command(command("acknowledge", "recorder", "image_store_failed"), T0)
    entry = board.entries[("recorder", "image_store_failed")]
    assert entry.acked and entry.standing(T0) and entry.acked_by == "someone"
    board.apply(cleared("recorder", "image_store_failed"), T0 + 1)
    assert board.entries == {}


def test_events_never_stand_repeats_are_counted_and_unacknowledged_ones_expire(tmp_path):
    board = board_in(tmp_path, keep_s=60)
    for part in range(5):
        board.apply(Alarm("station-1", "actuator", "failsafe_decision", "warning", f"part {part}", T0, False, part, "event"), T0)
    entry = board.entries[("actuator", "failsafe_decision")]
    assert entry.count == 5 and entry.text == "part 4" and not entry.standing(T0) and entry.shown(T0)
    assert board.critical_standing(T0) == 0
    board.apply(Alarm("station-1", "detector:0", "model_swapped", "info", "now m@2", T0, False, None, "event"), T0)
    assert ("detector:0", "model_swapped") not in board.entries, "info events are history only"
    assert board.tick(T0 + 61) and board.entries == {}, "an unacknowledged event leaves the list after the keep time"


def test_a_restatement_clears_what_its_owner_no_longer_holds_and_repairs_a_lost_raise(tmp_path):
    board = board_in(tmp_path)
    board.apply(raised("detector:0", "service_down", owner="supervisor"), T0)
    board.apply(raised("recorder", "service_down", owner="supervisor"), T0)
    board.apply(raised("camera:top", "camera_lost"), T0)
    held = raised("recorder", "service_down", text="silent for 5 s", owner="supervisor")
    lost_raise = raised("opcua", "service_down", owner="supervisor")
    made = board.restate(AlarmStanding("station-1", "supervisor", T0 + 1, [held, lost_raise]), T0 + 1)
    assert {(a.source, a.active) for a in made} == {("detector:0", False), ("opcua", True)}
    assert board.entries[("recorder", "service_down")].active
    assert not board.entries[("detector:0", "service_down")].active
    assert board.entries[("camera:top", "camera_lost")].active, "another owner's alarm is not touched"


def test_alarms_of_an_owner_no_longer_in_the_station_clear_at_start(tmp_path):
    board = board_in(tmp_path)
    board.apply(raised("detector:3", "model_refused"), T0)
    board.apply(raised("camera:top", "camera_lost"), T0)
    board.flush()
    again = board_in(tmp_path, owners={"camera:top", "supervisor", "actuator"}, now=T0 + 5)
    assert not again.entries[("detector:3", "model_refused")].active
    assert again.entries[("camera:top", "camera_lost")].active


def test_shelving_needs_the_role_a_reason_and_a_bounded_time_and_ends_by_itself(tmp_path):
    board = board_in(tmp_path)
    board.apply(raised("camera:top", "image_health.focus", severity="critical"), T0)
    with pytest.raises(AlarmCommandRefused, match="may not shelve"):
        board.command(command("shelve", "camera:top", "image_health.focus", role="operator", reason="lens", shelve_s=60), T0)
    with pytest.raises(AlarmCommandRefused, match="reason"):
        board.command(command("shelve", "camera:top", "image_health.focus", role="quality", shelve_s=60), T0)
    with pytest.raises(AlarmCommandRefused, match="up to 8 h"):
        board.command(command("shelve", "camera:top", "image_health.focus", role="quality", reason="lens", shelve_s=9 * 3600), T0)
    board.command(command("shelve", "camera:top", "image_health.focus", role="quality", reason="lens being cleaned",
                          shelve_s=60), T0)
    entry = board.entries[("camera:top", "image_health.focus")]
    assert entry.shelved(T0 + 1) and not entry.shown(T0 + 1) and board.critical_standing(T0 + 1) == 0
    assert entry.shelve_reason == "lens being cleaned"
    assert board.tick(T0 + 61)
    assert board.critical_standing(T0 + 61) == 1, "the shelf time ran out: it stands again"
    with pytest.raises(AlarmCommandRefused, match="no alarm"):
        board.command(command("acknowledge", "camera:top", "nothing"), T0)


def test_the_board_survives_its_keeper_and_readers_see_the_standing_alarms(tmp_path):
    board = board_in(tmp_path)
    board.apply(raised("actuator", "plc_connection_lost"), T0)
    board.apply(Alarm("station-1", "actuator", "failsafe_decision", "warning", "part 1", T0, False, 1, "event"), T0)
    board.flush()
    board.store.close()
    assert {(e.code, e.active) for e in read_board(tmp_path)} == {("plc_connection_lost", True), ("failsafe_decision", False)}
    assert [a["code"] for a in standing_alarms(tmp_path, T0)] == ["plc_connection_lost"]
    again = board_in(tmp_path)
    assert again.critical_standing(T0) == 1


def test_an_owner_sends_changes_once_restates_and_refuses_a_code_of_the_other_kind():
    sent = []
    owner = AlarmOwner("station-1", "recorder", lambda m: sent.append(m) or True)
    owner.raise_("image_store_failed", "disk full")
    owner.raise_("image_store_failed", "disk full")
    owner.raise_("image_store_failed", "x" * 10_000)
    assert len(sent) == 2 and len(sent[1].text) < 500, "a repeat is not resent; a long text is cut"
    owner.clear("image_store_failed", "stored again")
    owner.clear("image_store_failed", "stored again")
    assert len(sent) == 3 and not sent[2].active
    owner.restate(force=True)
    assert isinstance(sent[-1], AlarmStanding) and sent[-1].alarms == []
    with pytest.raises(ValueError, match="is an event"):
        owner.raise_("failsafe_decision", "x")
    with pytest.raises(KeyError):
        owner.event("not_a_code", "x")


def test_the_keeper_says_a_changing_board_at_most_five_times_a_second_and_a_quiet_one_every_second(tmp_path):
    import dataclasses

    from inspector.actuator.alarm_keeper import AlarmKeeper
    from inspector.config import DEFAULT_CONFIG, load_config

    config = load_config(DEFAULT_CONFIG)
    config = dataclasses.replace(config, station=dataclasses.replace(config.station, state_dir=str(tmp_path)))
    keeper = AlarmKeeper(config)
    said = []
    for step in range(100):  # fail-safe events at 100 parts/s for one second
        now = step * 0.01
        keeper.take(Alarm("station-1", "actuator", "failsafe_decision", "warning", f"part {step}", T0, False, step, "event"))
        if keeper.due_state(now) is not None:
            said.append(now)
    assert 4 <= len(said) <= 6, said
    quiet = [t for t in (1.0 + 0.1 * i for i in range(30)) if keeper.due_state(t) is not None]
    assert 2 <= len(quiet) <= 4, "without changes: once a second"
    keeper.close()
    assert read_board(tmp_path)[0].count == 100, "every occurrence counted, on disk at close"
