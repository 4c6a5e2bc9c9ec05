"""The station database's tables: what each holds, who writes it, and how an older file is brought up to date.

One SQLite file (``recorder.database``, WAL) holds:

============== ============================================== ====================================
table          what                                           written by
============== ============================================== ====================================
parts          one row per part: decision, verdict, image     the recorder (:mod:`.store`)
alarms         the alarm history, one row per raise and clear the recorder (:mod:`.store`)
recorder_state the recorder's bookmarks (``reconciled_until``) the recorder (:mod:`.store`)
hmi_users      sealed operator accounts                       the HMI (:mod:`.accounts`)
reject_marks   an operator's false-reject / true-defect mark  the HMI (:mod:`.marks`)
part_labels    a quality engineer's label and boxes           the HMI (:mod:`.marks`)
report_escapes defects found downstream (audits)              reports, the HMI (:mod:`.escapes`)
============== ============================================== ====================================

Migrations: a table is created when missing; the recorder's tables of a file
written by an earlier version get the columns added since (empty for their
old rows; :func:`add_missing_columns`), the accounts table the columns of
sealed accounts (:func:`create_station_tables`). Nothing is ever dropped or
renamed: an older Inspector keeps reading a newer file.
"""

from __future__ import annotations

import logging
import sqlite3

import sqlite_utils

log = logging.getLogger(__name__)

PARTS_COLUMNS: dict[str, type] = {
    "camera": str,
    "part_id": int,
    "station": str,
    "result": str,
    "source": str,
    "verdict_result": str,
    "t_trigger": float,
    "t_verdict": float,
    "t_decided": float,
    "t_plc_written": float,
    "t_plc_sent": float,
    "latency_ms": float,
    "plc_delivered": int,
    "plc_error": str,
    "decision_seq": int,
    "plc_seq": int,
    "model_version": str,
    "first_on_model": int,
    "detections": str,
    "timings_ms": str,
    "reason": str,
    "frame_source": str,
    "image_path": str,
    "inspected": int,  # 1 once the detector's inspection record (verdict, image) is stored
    "image_bytes": int,  # the stored image's size on disk (retention keeps the total under its limit)
    "image_note": str,  # why a part has no image although one was to be kept (IMAGE_REMOVED, IMAGE_NOT_STORED ...)
}
PARTS_PK = ("camera", "part_id")

ALARMS_COLUMNS: dict[str, type] = {
    "id": int,
    "t": float,
    "station": str,
    "source": str,
    "code": str,
    "severity": str,
    "text": str,
    "active": int,
    "part_id": int,
    "kind": str,  # condition | event (inspector.alarms.catalogue)
    "owner": str,  # the process that raised it, when not the source itself
}

RECORDER_TABLES = frozenset({"parts", "alarms", "recorder_state"})  # a fresh database refills these from the journal
REVIEW_TABLES = ("reject_marks", "part_labels")  # a part in either was reviewed by a person

_RECORDER_STATE = "CREATE TABLE IF NOT EXISTS recorder_state (name TEXT PRIMARY KEY, value REAL NOT NULL)"
# the stored images in age order per verdict, with their sizes: what retention reads
_STORED_IMAGES_INDEX = ("CREATE INDEX IF NOT EXISTS parts_stored_images ON parts (verdict_result, t_verdict, image_bytes) "
                        "WHERE image_path IS NOT NULL")

_HMI_SCHEMA = """
CREATE TABLE IF NOT EXISTS hmi_users (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, salt BLOB NOT NULL, pin_hash BLOB NOT NULL,
    iterations INTEGER NOT NULL, created REAL NOT NULL,
    seal TEXT, failed_logins INTEGER NOT NULL DEFAULT 0, locked_until REAL NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS reject_marks (
    camera TEXT NOT NULL, part_id INTEGER NOT NULL,
    mark TEXT NOT NULL CHECK (mark IN ('false_reject', 'true_defect')),
    result TEXT NOT NULL, t_trigger REAL NOT NULL, user TEXT NOT NULL, t REAL NOT NULL,
    PRIMARY KEY (camera, part_id)
);
CREATE INDEX IF NOT EXISTS reject_marks_t_trigger ON reject_marks (t_trigger);
CREATE TABLE IF NOT EXISTS part_labels (
    camera TEXT NOT NULL, part_id INTEGER NOT NULL,
    label TEXT NOT NULL CHECK (label IN ('good', 'defective')),
    boxes TEXT NOT NULL, user TEXT NOT NULL, t REAL NOT NULL,
    PRIMARY KEY (camera, part_id)
);
"""
# accounts of a database from before sealed accounts: their users must be re-created; from before versioned
# accounts (version 0): versioned and anchored at their first login
_HMI_USERS_ADDED = (("seal", "TEXT"), ("failed_logins", "INTEGER NOT NULL DEFAULT 0"), ("locked_until", "REAL NOT NULL DEFAULT 0"),
                    ("version", "INTEGER NOT NULL DEFAULT 0"))

ESCAPES_SCHEMA = """
CREATE TABLE IF NOT EXISTS report_escapes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    t REAL NOT NULL, count INTEGER NOT NULL, part_id INTEGER, camera TEXT NOT NULL DEFAULT '',
    defect TEXT NOT NULL DEFAULT '', note TEXT NOT NULL DEFAULT '', source TEXT NOT NULL, imported REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS report_escapes_t ON report_escapes (t);
CREATE UNIQUE INDEX IF NOT EXISTS report_escapes_same
    ON report_escapes (t, count, coalesce(part_id, -1), camera, defect, note);
"""


def create_recorder_tables(db: sqlite_utils.Database) -> None:
    """The recorder's tables, created or brought up to date (the recorder's open)."""
    db.execute(_RECORDER_STATE)
    for table, columns, pk, time_column in (("parts", PARTS_COLUMNS, PARTS_PK, "t_trigger"), ("alarms", ALARMS_COLUMNS, "id", "t")):
        if table not in db.table_names():
            db[table].create(columns, pk=pk)
            db[table].create_index([time_column])
        else:
            add_missing_columns(db, table, columns)
    db.execute(_STORED_IMAGES_INDEX)


def add_missing_columns(db: sqlite_utils.Database, table: str, columns: dict[str, type]) -> None:
    """A table written by an earlier version gets the columns added since (empty for its old rows)."""
    present = set(db[table].columns_dict)
    for name, kind in columns.items():
        if name not in present:
            log.info("store: adding column %s.%s", table, name)
            db[table].add_column(name, kind)


def create_station_tables(conn: sqlite3.Connection) -> None:
    """The HMI's tables, created on first open; the recorder's, when the line has not started yet, exactly as the
    recorder creates them (never altering them: the recorder adds its own columns)."""
    db = sqlite_utils.Database(conn)
    db["parts"].create(PARTS_COLUMNS, pk=PARTS_PK, if_not_exists=True)
    db["alarms"].create(ALARMS_COLUMNS, pk="id", if_not_exists=True)
    conn.executescript(_HMI_SCHEMA)
    present = {r[1] for r in conn.execute("PRAGMA table_info(hmi_users)")}
    for column, kind in _HMI_USERS_ADDED:
        if column not in present:
            conn.execute(f"ALTER TABLE hmi_users ADD COLUMN {column} {kind}")


def create_escapes_table(conn: sqlite3.Connection) -> None:
    conn.executescript(ESCAPES_SCHEMA)
