"""The soak's accounting reads the line's real records (the actuator's journal, the recorder's store) as the line writes them."""

from __future__ import annotations

import shutil

import msgspec
import pytest

from inspector.actuator.journal import DecisionJournal
from inspector.bench.soak.accounting import CameraRun, Window, alarm_history, alarms_by_window, part_accounting, standing_at
from inspector.bench.soak.faults import fill_ballast
from inspector.bench.soak.observers import MetricsScraper
from inspector.bench.soak.procs import VirtualDisplay
from inspector.bench.soak.settings import SoakSettings, expand_faults, parse_duration
from inspector.bench.soak.soak_config import disk_thresholds
from inspector.messages import TRIGGER_TIME_UNKNOWN, Alarm, Decision, PartSeen
from inspector.records.store import Store, decision_row, inspection_row
from tests.unit.factories import a_verdict

T0 = 1_800_000_000.0


def decide(journal: DecisionJournal, store: Store, part_id: int, seq: int, t: float, delivery: int) -> None:
    journal.seen(PartSeen("st", "top", part_id, seq, t), t)
    decision = Decision("st", "top", part_id, delivery, "PASS", "verdict", t, t + 0.03, True, t + 0.05)
    journal.writing(decision)
    journal.answered(decision)
    store.record([decision_row(decision)])


def record_alarms(store: Store, alarms: list[Alarm]) -> None:
    """As the recorder records them; the columns its alarm table has so far (kind and owner may not be there yet)."""
    columns = set(store.db["alarms"].columns_dict)
    store.db["alarms"].insert_all([{k: v for k, v in msgspec.to_builtins(a).items() if k in columns} for a in alarms])


@pytest.fixture
def line(line_config):
    config = line_config()
    journal = DecisionJournal(config.station.state_dir, keep_hours=72)
    store = Store(config.recorder.database, config.recorder.image_dir)
    yield config, journal, store
    store.close()


def test_every_part_recorded_once_is_not_lost(line):
    config, journal, store = line
    for i in range(1, 6):
        decide(journal, store, i, i, T0 + i, i)
    counts, notes = part_accounting(config, [Window("all", "", T0, T0 + 100)], [("top", 3, T0 + 3)], [("top", 4)])
    c = counts[0]
    assert (c.seen, c.decided, c.recorded, c.delivered, c.lost, c.mqtt, c.opcua) == (5, 5, 5, 5, 0, 1, 1)
    assert notes["recorded_without_journal_entry"] == 0


def test_a_part_whose_id_came_again_and_was_refused_by_the_recorder_is_lost(line):
    config, journal, store = line
    for i in range(1, 4):
        decide(journal, store, i, i, T0 + i, i)
    decide(journal, store, 2, 4, T0 + 50, 4)  # the counter wrapped: id 2 again; the store keeps the first decision
    counts, _ = part_accounting(config, [Window("before", "", T0, T0 + 10), Window("after", "", T0 + 10, T0 + 100)], [], [])
    assert (counts[0].seen, counts[0].recorded, counts[0].lost) == (3, 3, 0)
    assert (counts[1].seen, counts[1].recorded, counts[1].lost, counts[1].id_reused, counts[1].seen_gaps) == (1, 0, 1, 1, 0)


def test_part_seen_events_that_never_reached_the_actuator_are_lost(line):
    config, journal, store = line
    for part_id, seq in ((1, 1), (2, 2), (5, 5), (6, 1)):  # seq 3 and 4 never arrived; 1 again: the camera restarted
        decide(journal, store, part_id, seq, T0 + part_id, part_id)
    counts, _ = part_accounting(config, [Window("all", "", T0, T0 + 100)], [], [])
    assert (counts[0].seen, counts[0].recorded, counts[0].lost, counts[0].seen_gaps) == (6, 4, 2, 2)


def test_a_part_decided_without_its_part_seen_event_and_recorded_with_the_detectors_trigger_time_is_not_lost(line):
    """Seen in the second soak: such a part's journal entry carries the next part's trigger time, its record the
    detector's; matched by trigger time it was counted lost (2 of 104,628) though it had its one recorded decision."""
    config, journal, store = line
    decide(journal, store, 1, 1, T0 + 1, 1)
    store.record([inspection_row(a_verdict(part_id=2, camera="top", t_trigger=T0 + 2), None)])  # the detector saw it
    lost = Decision("st", "top", 2, 2, "FAILSAFE_REJECT", TRIGGER_TIME_UNKNOWN, T0 + 3, T0 + 4, False)
    journal.unwritten(lost, seen_seq=2)
    store.record([decision_row(lost)])
    decide(journal, store, 3, 3, T0 + 3, 3)
    counts, _ = part_accounting(config, [Window("all", "", T0, T0 + 100)], [], [])
    assert (counts[0].seen, counts[0].recorded, counts[0].failsafe, counts[0].lost) == (3, 3, 1, 0)


def test_parts_a_restarted_camera_numbered_but_the_actuator_ignored_are_lost(line):
    config, journal, store = line
    for i in range(1, 4):
        decide(journal, store, i, i, T0 + i, i)
    for i in range(1, 4):  # the camera restarted with its ids wrapped: the actuator ignores ids it has seen
        journal.seen(PartSeen("st", "top", i, i, T0 + 20 + i), T0 + 20 + i)
    decide(journal, store, 4, 4, T0 + 24, 4)
    runs = {"top": [CameraRun(T0), CameraRun(T0 + 20, triggered=5)]}  # its counter said 5: part 5's part-seen never came
    counts, _ = part_accounting(config, [Window("first run", "", T0, T0 + 20), Window("second run", "", T0 + 20, T0 + 100)],
                                [], [], runs, rate_hz=1.0)
    assert (counts[0].seen, counts[0].lost) == (3, 0)
    assert (counts[1].seen, counts[1].recorded, counts[1].lost, counts[1].seen_gaps) == (5, 1, 4, 4)


def test_alarms_are_timed_from_the_end_of_their_cause_and_events_never_stand(line):
    config, _, store = line
    def alarm(code: str, t: float, active: bool, kind: str = "condition") -> Alarm:
        return Alarm("st", "recorder", code, "critical", "text", t, active, kind=kind)
    record_alarms(store, [alarm("disk_space_critical", T0 + 2, True), alarm("disk_space_critical", T0 + 12.5, False),
                          alarm("image_store_failed", T0 + 3, True), alarm("decisions_recovered", T0 + 4, True, "event"),
                          alarm("decisions_recovered", T0 + 5, False, "event")])  # an event's row, whatever 'active' says
    windows = [Window("disk", "", T0, T0 + 60, t_cause_end=T0 + 11, fault=True)]
    episodes, events = alarm_history(config)
    by_window = alarms_by_window(episodes, events, windows, 2.0, T0 + 60)[0]
    verdicts = {a["code"]: (a["ok"], a["clear_after_cause_s"]) for a in by_window["raised"]}
    assert verdicts == {"disk_space_critical": (True, 1.5), "image_store_failed": (False, None)}
    assert dict(by_window["events"]) == {"decisions_recovered (recorder)": 2}
    assert [s["code"] for s in standing_at(episodes, T0 + 60)] == ["image_store_failed"]


def test_counters_are_summed_over_restarts_as_prometheus_increase_does():
    pids = iter([10, 10, 11])
    scraper = MetricsScraper("127.0.0.1", {"recorder": 1}, lambda _: next(pids), 5)
    key = ("inspector_parts_total", (("result", "PASS"),))
    for value in (5.0, 9.0, 3.0):  # the third scrape sees a restarted recorder that counted 3 so far
        scraper._take("recorder", scraper.pid_of("recorder"), {key: value, ("inspector_up", ()): 1.0})
    increase, resets, scrapes, _ = scraper.totals()
    assert increase["recorder"] == {key: 12.0} and resets == {"recorder": 1} and scrapes == {"recorder": 3}


def test_fault_lists_and_durations_read_as_written():
    assert parse_duration("1h30m") == 5400 and parse_duration("20s") == 20
    assert expand_faults(["kill:recorder", "broker", "stop:hmi"]) == ["kill:recorder", "broker", "stop:hmi"]
    assert expand_faults(["kill", "disk"])[:3] == ["kill:camera", "disk", "kill:detector"]


@pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xwd")), reason="needs Xvfb and xwd (scripts/ensure-system-packages)")
def test_a_screenshot_of_the_virtual_display_is_a_png_of_its_size(tmp_path):
    display = VirtualDisplay(tmp_path / "xvfb.log", size="640x480x24")
    display.start()
    try:
        share = display.screenshot(tmp_path / "shot.png")
        header = (tmp_path / "shot.png").read_bytes()[:24]
    finally:
        display.stop()
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(header[16:20], "big") == 640
    assert share == 0.0  # nothing on the screen: one colour


def test_the_disk_ballast_takes_the_free_space_to_its_target_and_never_below_the_floor(tmp_path):
    free = shutil.disk_usage(tmp_path).free
    ballast = tmp_path / "ballast"
    fill_ballast(ballast, tmp_path, free - 64 * 1024**2, floor=0)
    assert ballast.stat().st_blocks * 512 >= 60 * 1024**2
    assert shutil.disk_usage(tmp_path).free <= free - 60 * 1024**2
    assert fill_ballast(tmp_path / "other", tmp_path, 1024**2).startswith("not filled")
    ballast.unlink()


def test_the_recorders_free_space_limits_are_set_just_below_the_free_space_now(tmp_path):
    from inspector.config.schema import RecorderConfig

    settings = SoakSettings(disk_warn_margin=1024**3, disk_crit_margin=2 * 1024**3)
    recorder, note = disk_thresholds(RecorderConfig(), tmp_path, settings)
    limits = recorder.disk_space
    assert limits.critical_free_mb == pytest.approx((note["free_at_start"] - 2 * 1024**3) / 1024**2, abs=1)
    assert limits.warning_free_mb == pytest.approx((note["free_at_start"] - 1024**3) / 1024**2, abs=1)
    assert limits.warning_free_percent == limits.critical_free_percent == 0.0, "the MiB limits decide"
    assert note["levels"] == ["critical", "warning"]

def test_the_wrap_fault_moves_the_part_counter_on_to_just_before_the_plcs_next_dint_wrap():
    from inspector.bench.soak.faults import next_wrap
    from plc_io.tag_values import plc_part_id

    for current in (1, 10_001, 2**31 + 18_000, 5 * (2**31 - 1) + 7):
        state = next_wrap(current, 280)
        assert state > current, "never back onto ids already recorded"
        assert plc_part_id(state + 279) == 2**31 - 1 and plc_part_id(state + 280) == 1, "the DINT tag wraps 280 parts on"
