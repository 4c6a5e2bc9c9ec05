"""The records package's typed reads answer what the raw SQL they replaced answered, on real files the line writes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from inspector.actuator.journal import DecisionJournal, journal_counts, journaled_between, journaled_part_ids
from inspector.bench.soak.accounting import journaled_parts, recent_parts, record_counts
from inspector.errors import ReportError
from inspector.line_runner import alarm_rows, decided_count, part_rows, parts_on_model
from inspector.messages import Alarm, Decision, PartSeen, Verdict
from inspector.records.alarms import raised_codes
from inspector.records.escapes import forget_escape
from inspector.records.parts import every_row, last_decided
from inspector.records.readonly import open_readonly, reading
from inspector.records.station import StationDatabase
from inspector.records.store import Store, decision_row, inspection_row
from inspector.reports.escapes import record_escape

T0 = 1_800_000_000.0


def decision(part_id: int, result: str, t: float, *, delivered: bool = True, model: str = "disc@1") -> Decision:
    verdict = None if result.startswith("FAILSAFE") else Verdict(
        "st", "top", part_id, part_id, result, t, t + 0.02, model, [], {"inference": 10.0}, "", f"synthetic:1:0.5:{part_id}")
    return Decision("st", "top", part_id, part_id, result, "verdict" if verdict else "deadline", t, t + 0.03, delivered,
                    t + 0.05 if delivered else None, "" if delivered else "PLC unreachable", verdict)


@pytest.fixture
def line(line_config):
    """A line's records: four decided parts (one fail-safe, one not confirmed by the PLC), one image waiting for its
    decision, two alarm rows (raised, cleared), and the actuator's journal of the same parts."""
    config = line_config()
    store = Store(config.recorder.database, config.recorder.image_dir)
    journal = DecisionJournal(config.station.state_dir, keep_hours=72)
    decisions = [decision(1, "PASS", T0 + 1), decision(2, "REJECT", T0 + 2, model="disc@2"),
                 decision(3, "FAILSAFE_REJECT", T0 + 3), decision(4, "PASS", T0 + 4, delivered=False)]
    for d in decisions:
        journal.seen(PartSeen("st", "top", d.part_id, d.part_id, d.t_trigger), d.t_trigger)
        journal.writing(d)
        journal.answered(d)
    journal.seen(PartSeen("st", "top", 5, 5, T0 + 5), T0 + 5)
    image_first = Verdict("st", "top", 6, 6, "REJECT", T0 + 6, T0 + 6.02, "disc@1", [], {})
    store.record([decision_row(d) for d in decisions] + [inspection_row(image_first, "/img/6.png")], [
        Alarm("st", "actuator", "plc_unreachable", "critical", "PLC unreachable", T0 + 4, True),
        Alarm("st", "actuator", "plc_unreachable", "critical", "PLC reachable again", T0 + 9, False),
    ])
    yield config
    journal.close()
    store.close()


def test_the_line_runners_reads_count_decided_parts_and_alarm_rows(line):
    assert [r["part_id"] for r in part_rows(line)] == [1, 2, 3, 4], "decided parts only, in part-id order"
    assert decided_count(line) == 4
    assert parts_on_model(line, "disc@2") == 1 and parts_on_model(line, "it's@1") == 0
    assert [(r["code"], r["active"]) for r in alarm_rows(line)] == [("plc_unreachable", 1), ("plc_unreachable", 0)]
    assert sorted(r["part_id"] for r in every_row(line.recorder.database)) == [1, 2, 3, 4, 6], "the image's row too"
    assert raised_codes(line.recorder.database) == ["plc_unreachable"]


def test_the_soaks_counts_read_the_store_and_the_journal(line):
    assert record_counts(line) == {
        "recorded": 4, "failsafe": 1, "undelivered": 1, "alarm_rows_active": 1, "alarm_rows_cleared": 1,
        "journal_seen": 5, "journal_decided": 4, "journal_delivered": 3,
    }
    assert recent_parts(line, T0 + 2, T0 + 4) == (2, 1), "parts 2 and 3 (fail-safe), [from, to)"
    assert journaled_parts(line, T0 + 4, T0 + 100) == 2
    assert journaled_between(line.station.state_dir, T0, T0 + 100) == 5
    assert sorted(journaled_part_ids(line.station.state_dir)) == [1, 2, 3, 4, 5]
    assert sorted(journaled_part_ids(line.station.state_dir, ("delivered",))) == [1, 2, 3]


def test_a_line_that_has_not_started_reads_as_empty(line_config):
    config = line_config()
    assert part_rows(config) == [] and decided_count(config) == 0 and alarm_rows(config) == []
    assert raised_codes(config.recorder.database) == [] and last_decided(config.recorder.database) is None
    assert record_counts(config) == dict.fromkeys(record_counts(config), 0) and len(record_counts(config)) == 8
    assert journal_counts(config.station.state_dir) == {"journal_seen": 0, "journal_decided": 0, "journal_delivered": 0}
    assert not Path(config.recorder.database).exists(), "reading made no database"


def test_the_last_decided_part_is_the_latest_by_trigger_time(line):
    last = last_decided(line.recorder.database)
    assert (last.camera, last.part_id, last.result, last.latency_ms) == ("top", 4, "PASS", None), "not confirmed: no latency"


def test_the_station_database_says_where_a_parts_frame_came_from(line):
    with StationDatabase(line.recorder.database) as db:
        assert db.frame_source(("top", 2)) == "synthetic:1:0.5:2"
        assert db.frame_source(("top", 99)) is None


def test_an_escape_of_a_recorded_part_counts_at_its_trigger_time_once_and_can_be_forgotten(line):
    row = record_escape(line.recorder.database, t=None, part_id=2, camera="top", defect="dent")
    assert row["t"] == T0 + 2
    with pytest.raises(ReportError, match="already recorded"):
        record_escape(line.recorder.database, t=None, part_id=2, camera="top", defect="dent")
    with pytest.raises(ReportError, match="part 77 of camera top is not in the station's records"):
        record_escape(line.recorder.database, t=None, part_id=77, camera="top")
    forget_escape(line.recorder.database, row["id"])
    with reading(line.recorder.database) as conn:
        assert conn.execute("SELECT count(*) FROM report_escapes").fetchone()[0] == 0


def test_a_read_only_connection_never_makes_or_writes_the_file_and_takes_any_folder_name(tmp_path):
    folder = tmp_path / "line ?#%20 1"
    folder.mkdir()
    with pytest.raises(sqlite3.OperationalError):
        open_readonly(folder / "missing.db")
    assert not (folder / "missing.db").exists()
    sqlite3.connect(folder / "x.db").executescript("CREATE TABLE t (v); INSERT INTO t VALUES (1);")
    with reading(folder / "x.db") as conn:
        assert conn.execute("SELECT v FROM t").fetchall() == [(1,)]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            conn.execute("INSERT INTO t VALUES (2)")


def test_the_station_database_of_an_older_recorder_is_read_without_altering_the_recorders_tables(tmp_path):
    database = tmp_path / "inspector.db"
    with sqlite3.connect(database) as old:  # a recorder from before image notes, an HMI from before sealed accounts
        old.executescript(
            "CREATE TABLE parts (camera TEXT, part_id INTEGER, result TEXT, source TEXT, t_trigger FLOAT, latency_ms FLOAT, "
            "detections TEXT, image_path TEXT, model_version TEXT, plc_delivered INTEGER, PRIMARY KEY (camera, part_id));"
            "INSERT INTO parts VALUES ('top', 7, 'REJECT', 'verdict', 1.0, 40.0, '[]', '/img/7.png', 'm@1', 1);"
            "CREATE TABLE hmi_users (name TEXT PRIMARY KEY, role TEXT NOT NULL, salt BLOB NOT NULL, pin_hash BLOB NOT NULL,"
            " iterations INTEGER NOT NULL, created REAL NOT NULL);"
            "INSERT INTO hmi_users VALUES ('olga', 'operator', x'00', x'00', 1, 0);")
    with StationDatabase(database) as db:
        part = db.part(("top", 7))
        assert (part.result, part.image_path, part.image_note) == ("REJECT", "/img/7.png", None)
        assert db.account_record("olga")[4:7] == (None, 0, 0), "the account has the sealed accounts' columns, unsealed"
    with reading(database) as conn:
        columns = {r[1] for r in conn.execute("PRAGMA table_info(parts)")}
    assert "image_note" not in columns, "the recorder adds its own columns when it opens the file"


def test_a_recorder_opening_an_older_file_adds_the_columns_people_then_read(tmp_path):
    database = tmp_path / "inspector.db"
    with sqlite3.connect(database) as old:
        old.executescript("CREATE TABLE parts (camera TEXT, part_id INTEGER, result TEXT, PRIMARY KEY (camera, part_id));"
                          "INSERT INTO parts VALUES ('top', 7, 'PASS');")
    Store(database, tmp_path / "images").close()
    with StationDatabase(database) as db:
        assert (db.part(("top", 7)).result, db.part(("top", 7)).image_note) == ("PASS", None)
        assert db.latest_parts(1)[0].part_id == 7
