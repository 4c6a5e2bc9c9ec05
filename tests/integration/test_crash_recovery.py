"""Exactly one recorded decision per part across crashes (real processes, real PLC server, kill -9)."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

import msgspec

from inspector.actuator.journal import DecisionJournal, journal_path
from inspector.line_runner import alarm_rows, part_rows, running_line
from inspector.messages import Decision, PartSeen
from inspector.transport import send_message
from tests.helpers import PeerSockets, wait_until


def journal_final(config) -> int:
    path = journal_path(config.station.state_dir)
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute("SELECT count(*) FROM parts WHERE outcome IN ('delivered', 'undelivered')").fetchone()[0]


def test_decisions_lost_with_a_frozen_recorder_and_a_killed_actuator_are_recorded_from_the_journal(line_config, tmp_path):
    parts = 20
    config = line_config(parts=parts, rate_hz=10)
    with running_line(config, tmp_path) as supervisor:
        recorder, actuator = supervisor.process("recorder"), supervisor.process("actuator")
        wait_until(lambda: len(part_rows(config)) >= 3, 60, "the first decisions recorded")
        frozen = recorder.process.pid
        os.kill(frozen, signal.SIGSTOP)  # what it holds, and what the actuator queues for it, is lost with it
        wait_until(lambda: journal_final(config) >= parts, 30, "every part decided by the actuator")
        os.kill(actuator.process.pid, signal.SIGKILL)
        wait_until(lambda: recorder.restarts >= 1 and actuator.restarts >= 1, 30, "the supervisor to restart both")
        rows = wait_until(lambda: len(part_rows(config)) >= parts and part_rows(config), 60, f"{parts} recorded parts")
        recovered = wait_until(
            lambda: [a for a in alarm_rows(config) if a["code"] == "decisions_recovered"], 30, "the recovery alarm"
        )
    assert [r["part_id"] for r in rows] == list(range(1, parts + 1)), "every part, once"
    assert all(r["plc_delivered"] == 1 and r["plc_seq"] for r in rows)
    seqs = [r["plc_seq"] for r in rows]
    assert seqs == sorted(seqs) and len(set(seqs)) == parts, "the PLC sequence of each part, stored"
    assert "recorded from the actuator's journal" in recovered[0]["text"]


def test_a_part_seen_but_not_decided_before_a_crash_is_recorded_fail_safe_with_an_alarm_at_restart(line_config, tmp_path):
    config = line_config(parts=0)
    crashed = DecisionJournal(config.station.state_dir, keep_hours=72)  # the journal a killed actuator left
    crashed.seen(PartSeen("station-1", "top", 900, 4, time.time() - 30), time.time() - 30)
    crashed.close()
    with running_line(config, tmp_path):
        (row,) = wait_until(lambda: part_rows(config), 60, "the open part recorded")
        alarm = wait_until(
            lambda: [a for a in alarm_rows(config) if a["code"] == "parts_undecided_at_restart"], 30, "the alarm"
        )[0]
    assert (row["part_id"], row["result"], row["source"], row["plc_delivered"]) == (900, "FAILSAFE_REJECT", "deadline", 0)
    assert "not written to the PLC" in row["plc_error"]
    assert alarm["severity"] == "critical" and "900" in alarm["text"]


def test_part_seen_events_lost_while_the_actuator_was_down_are_counted_across_its_restart_and_alarmed(line_config, tmp_path):
    config = line_config(parts=0, budget_ms=300)
    journal = DecisionJournal(config.station.state_dir, keep_hours=72)  # the last run saw part-seen seq 3 of camera top
    journal.seen(PartSeen("station-1", "top", 3, 3, time.time() - 60), time.time() - 60)
    journal.writing(_decision(3))
    journal.answered(msgspec.structs.replace(_decision(3), plc_delivered=True))
    journal.close()
    camera = PeerSockets(config)
    part_seen = camera.open("camera", "part_seen")
    try:
        with running_line(config, tmp_path, without=("camera:",)):
            send_message(part_seen, PartSeen("station-1", "top", 7, 7, time.time()), block=True)  # 4, 5, 6 never came
            alarm = wait_until(lambda: [a for a in alarm_rows(config) if a["code"] == "part_seen_lost"], 60, "the alarm")[0]
            rows = wait_until(lambda: len(part_rows(config)) >= 4 and part_rows(config), 30, "parts 4 to 7 recorded")
    finally:
        camera.close()
    assert "3 part-seen event(s) from camera top were lost before part 7 (sequence 4..6)" in alarm["text"]
    assert "parts 4..6" in alarm["text"] and alarm["kind"] == "event"
    lost = {r["part_id"]: r for r in rows if r["part_id"] in (4, 5, 6)}
    assert sorted(lost) == [4, 5, 6], "every part the camera saw has its one recorded decision"
    assert {(r["result"], r["source"], r["plc_delivered"]) for r in lost.values()} == {("FAILSAFE_REJECT", "seen_lost", 0)}
    assert all("part-seen event was lost" in r["plc_error"] for r in lost.values())
    assert [r["part_id"] for r in rows if r["part_id"] == 7] == [7], "part 7 gets its own decision (fail-safe here)"
    journal = sqlite3.connect(f"file:{Path(config.station.state_dir) / 'actuator-journal.db'}?mode=ro", uri=True)
    numbered = dict(journal.execute("SELECT part_id, seen_seq FROM parts WHERE part_id BETWEEN 4 AND 6").fetchall())
    journal.close()
    assert numbered == {4: 4, 5: 5, 6: 6}, "journaled with the numbers their lost part-seen events had"


def _decision(part_id: int) -> Decision:
    now = time.time()
    return Decision("station-1", "top", part_id, 1, "PASS", "verdict", now, now, False)
