"""The chaos suite counts from the station's own words: restarts from the supervisor's log, forged results from the
PLC's tags against the records. (The suite itself runs for many minutes: benchmarks/chaos.py.)"""

from __future__ import annotations

import pytest

from inspector.bench.chaos.line_cases import CASES
from inspector.bench.chaos.report import line_case_held
from inspector.bench.chaos.station import PlcWatch, Station
from plc_io.tag_values import plc_part_id

SUPERVISOR_LOG = """\
2026-12-07 17:24:03,629 ERROR inspector.supervisor: detector:0 silent for 5.1s (2026-12-07 17:23:58,040 ERROR detector \
inspector.services.heartbeats: detector:0: its loop has not turned for 0.7s; heartbeats stop); restarting in 0.2s
2026-12-07 17:24:03,629 ERROR inspector.alarms.owner: alarm service_down raised (detector:0): detector:0 silent for 5.1s; \
restarting in 0.2s (restart 1).
2026-12-07 17:25:00,000 ERROR inspector.supervisor: actuator exited with code -9; restarting in 0.2s
2026-12-07 17:19:21,006 ERROR inspector.supervisor: recorder no heartbeat within 30s of starting; restarting in 0.2s
"""


def test_every_restart_the_supervisor_made_is_read_once_with_its_reason(tmp_path):
    (tmp_path / "run-0.out").write_text(SUPERVISOR_LOG)
    station = Station(config=None, config_file=tmp_path / "station.yaml", workdir=tmp_path)  # type: ignore[arg-type]
    restarts = station.restarts()
    assert [(name, why) for _, name, why in restarts] == [
        ("detector:0", "silent for 5.1s"), ("actuator", "exited with code -9"), ("recorder", "no heartbeat within 30s of starting")]
    assert restarts[1][0] - restarts[0][0] == pytest.approx(56.371)


def row(part_id: int, result: str, seq: int | None, delivered: bool = True) -> dict:
    return {"part_id": part_id, "result": result, "plc_seq": seq, "plc_delivered": int(delivered)}


def test_a_result_the_plc_held_under_another_parts_id_or_without_a_delivered_decision_is_forged(line_config):
    watch = PlcWatch(line_config())
    rows = [row(7, "PASS", 1), row(2**40, "FAILSAFE_REJECT", 2), row(9, "REJECT", 3, delivered=False)]
    watch.held = {(7, 1, 1), (plc_part_id(2**40), 3, 2)}
    assert watch.misattributed(rows) == [], "each held result is the record's"
    watch.held |= {(7, 3, 2), (5, 1, 3)}  # a result under the previous part's id; one no record gave the PLC
    forged = watch.misattributed(rows)
    assert len(forged) == 2
    assert forged[0] == f"sequence 2: the PLC held part tag 7 result 3, the record part {2**40} FAILSAFE_REJECT"
    assert forged[1] == "sequence 3 (part tag 5, result 1): no decision delivered with it"
    watch.held = {(9, 2, 4)}  # an actuator killed during the write: its record says "unknown", not delivered
    assert watch.misattributed(rows) == ["sequence 4 (part tag 9, result 2): the PLC latched it, the record of part 9 "
                                         "says not delivered"]
    rows.append(row(8, "REJECT", 1))  # a PLC restarted from 0 gave sequence 1 again: both are the record's
    watch.held = {(7, 1, 1), (8, 2, 1)}
    assert watch.misattributed(rows) == []


def test_a_case_holds_only_with_nothing_lost_crashed_forged_or_written_past_its_gate():
    good = {"lost": 0, "crashed": [], "forged": [], "past_gate": 0}
    assert line_case_held(good)
    for bad in ({"lost": 1}, {"crashed": ["actuator (exited with code 1)"]}, {"forged": ["x"]}, {"past_gate": 3}):
        assert not line_case_held({**good, **bad})
    assert not line_case_held({"error": "the line did not start", "lost": None})


def test_every_case_of_the_second_chaos_round_has_its_row():
    issue_24 = ["key-holder-big-integers", "key-holder-verdict-flood", "sigstop-camera", "sigstop-detector",
                "sigstop-actuator", "sigstop-recorder", "plc-hung-twice", "squat-actuator", "squat-recorder",
                "squat-actuator-tcp", "squat-recorder-tcp", "damaged-images", "files-and-endpoints"]
    assert set(issue_24) <= set(CASES)
    frozen = [CASES[name] for name in issue_24 if name.startswith("sigstop-")]
    assert all(case.targets == (case.name.removeprefix("sigstop-").replace("camera", "camera:top")
                                .replace("detector", "detector:0"),) for case in frozen)
