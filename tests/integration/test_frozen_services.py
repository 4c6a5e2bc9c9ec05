"""A frozen service loses no part: every part a camera triggered ends with exactly one recorded decision.

The real line under its supervisor (real processes, sockets, PLC server). The parts a camera triggered are the rows
of its trigger journal; a part is lost when the recorder has no decision carrying its trigger time. A second
decision of a part would be refused by the recorder and raise ``decision_refused``; the actuator's decision counter
says how many it made.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time

from inspector.actuator.journal import journal_path
from inspector.line_runner import alarm_rows, decided_count, part_rows, running_line
from inspector.records.readonly import reading
from inspector.records.trigger_journal import read_triggers
from tests.helpers import wait_until

MATCH_S = 1e-6  # the trigger time travels as a float: the recorder's is the camera's


def slow_start(config):
    """A loaded machine takes long to load the detector's model: more start time, the rest as tests have it."""
    return dataclasses.replace(config, supervisor=dataclasses.replace(config.supervisor, startup_grace_s=120.0))


def triggered(config) -> list:
    """Every part the line's camera triggered, from its trigger journal."""
    batch = read_triggers(config.station.state_dir, config.cameras[0].name, 0, 1_000_000)
    return [] if batch is None else batch.triggers


def lost(config, until: float) -> list[int]:
    """The parts triggered before ``until`` without a recorded decision carrying their trigger time."""
    recorded = {r["part_id"]: r["t_trigger"] for r in part_rows(config)}
    return [t.part_id for t in triggered(config)
            if t.t_trigger < until and abs(recorded.get(t.part_id, -1.0) - t.t_trigger) > MATCH_S]


def decisions_made(config) -> int:
    with reading(journal_path(config.station.state_dir)) as db:
        row = db.execute("SELECT value FROM counters WHERE name = 'delivery_seq'").fetchone()
    return row[0] if row else 0


def refused(config) -> list[str]:
    return [a["text"] for a in alarm_rows(config) if a["code"] == "decision_refused"]


def settled(config) -> tuple[list, list, int] | None:
    """Every triggered part recorded with its trigger time, and as many decisions made as parts: (triggers, rows,
    decisions); None until then (a part without its decision, or a part decided twice, never settles)."""
    triggers, rows, made = triggered(config), part_rows(config), decisions_made(config)
    if lost(config, float("inf")) or not len(triggers) == len(rows) == made:
        return None
    return triggers, rows, made


def test_parts_in_flight_in_a_frozen_actuator_at_the_end_of_a_run_each_get_one_decision_never_written_past_the_gate(
        line_config, tmp_path):
    parts = 20
    config = slow_start(line_config(parts=parts, rate_hz=10))
    # its watchdog a little longer than the shipped 3 s, so a loaded machine triggers the run's last parts in time
    config = dataclasses.replace(config, supervisor=dataclasses.replace(
        config.supervisor, heartbeat_timeout_s=8.0, actuator_heartbeat_timeout_s=6.0))
    gate_s = (config.actuator.budget_ms + config.actuator.gate_window_ms) / 1000
    with running_line(config, tmp_path) as supervisor:
        actuator = supervisor.process("actuator")
        wait_until(lambda: len(triggered(config)) >= parts - 5, 240, "the run's first parts triggered")
        os.kill(actuator.process.pid, signal.SIGSTOP)  # the last parts' part-seen events go to a frozen actuator
        wait_until(lambda: len(triggered(config)) >= parts, 30, "the run's last parts triggered; none comes after")
        wait_until(lambda: actuator.restarts >= 1, 30, "the watchdog to restart the frozen actuator")
        triggers, rows, made = wait_until(lambda: settled(config), 120, "every part with exactly one recorded decision")
        time.sleep(3)  # time for a second decision of any part to show
        again = settled(config)
        assert again is not None and (again[0], [tuple(r) for r in again[1]], again[2]) == (
            triggers, [tuple(r) for r in rows], made), "nothing decided again"
        refusals, alarms = refused(config), alarm_rows(config)
    assert len(triggers) >= parts and refusals == []
    assert sorted(r["part_id"] for r in rows) == sorted(t.part_id for t in triggers), "every part triggered, recorded"
    from_journal = [r for r in rows if r["source"] == "seen_lost"]
    assert from_journal, "the parts whose part-seen events died with the actuator were decided from the trigger journal"
    assert all(r["plc_delivered"] == 0 and "not written to the PLC" in r["plc_error"] for r in from_journal)
    assert any(a["code"] == "part_seen_lost" and "trigger journal" in a["text"] for a in alarms)
    written = [r for r in rows if r["plc_delivered"]]
    late = [r["part_id"] for r in written if r["t_plc_sent"] > r["t_trigger"] + gate_s]
    assert late == [], "no decision written to the PLC after its part passed the reject gate"


def test_a_camera_detector_or_recorder_frozen_for_5_s_loses_no_part(line_config, tmp_path):
    config = slow_start(line_config(rate_hz=10))
    settle_s = (config.actuator.budget_ms + config.actuator.gate_window_ms) / 1000 + 2
    with running_line(config, tmp_path) as supervisor:
        for kind in ("camera", "detector", "recorder"):
            before = decided_count(config)
            wait_until(lambda: decided_count(config) >= before + 5, 240, f"parts decided before the {kind} freezes")
            proc = next(p for p in supervisor.processes if p.name.split(":")[0] == kind)
            pid = proc.process.pid
            os.kill(pid, signal.SIGSTOP)
            time.sleep(5)
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:  # killed by its watchdog meanwhile: restarted
                pass
            wait_until(lambda: proc.back(time.time()), 60, f"the {kind} back")
        before = decided_count(config)
        wait_until(lambda: decided_count(config) >= before + 5, 120, "parts decided after the last freeze")
        until = time.time() - settle_s
        deadline = time.monotonic() + 60
        while lost(config, until) and time.monotonic() < deadline:
            time.sleep(0.5)
        missing = lost(config, until)
        refusals = refused(config)
        counted = len([t for t in triggered(config) if t.t_trigger < until])
    assert counted > 30
    assert missing == [], f"parts triggered without a recorded decision: {missing[:20]}"
    assert refusals == [], "no part decided twice"
