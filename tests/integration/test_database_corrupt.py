"""A database damaged under a running recorder: moved aside, a fresh one refilled from the journal, no restart."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from inspector.line_runner import alarm_rows, part_rows, running_line
from inspector.records.station import StationDatabase
from tests.helpers import wait_until
from tests.integration.line_peers import LinePeers

pytestmark = pytest.mark.slow


def overwrite_pages_of(database: Path, table: str) -> None:
    """After a checkpoint (the pages are in the file, not the WAL), overwrite the pages of ``table`` and its indexes
    with garbage, as a failing disk or a stray write would; then commit a change elsewhere, so that every connection
    reads the file again."""
    with sqlite3.connect(database) as conn:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        roots = [r[0] for r in conn.execute("SELECT rootpage FROM sqlite_master WHERE tbl_name = ? AND rootpage > 0", (table,))]
        with open(database, "r+b") as fh:
            for root in roots:
                fh.seek((root - 1) * page_size)
                fh.write(os.urandom(page_size))
        conn.execute("PRAGMA user_version = 7")
    conn.close()


def test_a_database_damaged_under_the_running_recorder_is_replaced_and_refilled_without_a_restart(line_config, tmp_path):
    config = line_config()
    database = Path(config.recorder.database)
    peers = LinePeers(config)
    try:
        with running_line(config, tmp_path, without=("camera:", "detector:")) as supervisor:
            recorder = supervisor.process("recorder")
            wait_until(lambda: recorder.last_beat and supervisor.process("actuator").last_beat, 60, "the line up")
            pid = recorder.process.pid
            for part_id in range(1, 31):
                peers.part(part_id, "REJECT" if part_id % 3 else "PASS")
                time.sleep(0.02)
            wait_until(lambda: len(part_rows(config)) == 30, 30, "30 parts recorded")
            hmi = StationDatabase(database)  # the HMI's tables live in the same file
            hmi.set_mark(hmi.part(("top", 4)), "false_reject", "operator")
            hmi.save_label(("top", 5), "defective", [], "quality")
            hmi.close()
            time.sleep(1.0)

            overwrite_pages_of(database, "parts")
            for part_id in range(31, 41):
                peers.part(part_id, "REJECT")
            moved = wait_until(lambda: list(tmp_path.glob("line/inspector.db.corrupt-*[0-9]")), 30, "the damaged file moved aside")
            rows = wait_until(lambda: len(part_rows(config)) == 40 and part_rows(config), 60, "all 40 parts in the fresh file")
            assert recorder.running and recorder.process.pid == pid and recorder.restarts == 0, "no crash, no restart"
            events = wait_until(lambda: [a for a in alarm_rows(config) if a["code"] == "database_corrupt"], 20, "the event")
            hmi = StationDatabase(database)
            marks, labelled = hmi.marks([("top", 4)]), [(p.part_id, p.label) for p in hmi.labelled_parts()]
            hmi.close()
    finally:
        peers.close()
    assert [r["part_id"] for r in rows] == list(range(1, 41)), "the journal refilled what the damaged file held"
    assert all(r["image_path"] for r in rows), "the refilled parts found their images on disk"
    (event,) = events
    assert event["severity"] == "critical" and str(moved[0]) in event["text"] and "while running" in event["text"]
    assert marks == {("top", 4): ("false_reject", "operator")} and labelled == [(5, "defective")], "the HMI's tables kept"
    with sqlite3.connect(f"file:{moved[0]}?mode=ro", uri=True) as old:
        with pytest.raises(sqlite3.DatabaseError):
            old.execute("SELECT count(*) FROM parts WHERE part_id > 0").fetchall()
