"""What a fresh database takes over from a damaged one it replaces.

The recorder's own tables (``parts``, ``alarms``, ``recorder_state``) start
empty and are refilled from the actuator's journal (the decisions it still
keeps). The other tables in the file are people's, the HMI's users, marks
and labels, and the reports' escapes (:mod:`.schema`): each one still
readable in the damaged file is copied over as it is, schema and rows; one
that cannot be read whole is left behind (and named), never half-copied. The
damaged file itself stays beside it for inspection (``sqlite3 .recover``).
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from inspector.records.readonly import open_readonly
from inspector.records.schema import RECORDER_TABLES
from inspector.records.store import Store

log = logging.getLogger(__name__)

def carry_over(damaged: Path, fresh: Store) -> tuple[list[str], list[str]]:
    """Copy the other owners' tables from ``damaged`` into ``fresh``; (copied: "name rows", left behind: "name (why)")."""
    copied: list[str] = []
    left: list[str] = []
    try:
        old = open_readonly(damaged)
    except sqlite3.Error as err:
        return [], [f"every other table ({err})"]
    try:
        try:
            tables = old.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            ).fetchall()
        except sqlite3.Error as err:
            return [], [f"every other table ({err})"]
        for name, sql in tables:
            if name in RECORDER_TABLES or not sql:
                continue
            try:
                copied.append(f"{name} {_copy_table(old, fresh.db.conn, name, sql)}")
            except sqlite3.Error as err:
                left.append(f"{name} ({err})")
    finally:
        old.close()
    if copied or left:
        log.warning("fresh database %s: copied %s; left behind %s", fresh.path, ", ".join(copied) or "nothing",
                    ", ".join(left) or "nothing")
    return copied, left


def _copy_table(old: sqlite3.Connection, new: sqlite3.Connection, name: str, sql: str) -> int:
    cursor = old.execute(f'SELECT * FROM "{name}"')
    columns = [d[0] for d in cursor.description]
    rows = cursor.fetchall()  # read whole before writing: a table damaged half-way is not copied at all
    indexes = old.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", (name,)
    ).fetchall()
    quoted = ", ".join(f'"{c}"' for c in columns)
    with new:
        new.execute(sql.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS", 1))
        new.executemany(f'INSERT OR IGNORE INTO "{name}" ({quoted}) VALUES ({", ".join("?" * len(columns))})', rows)
        for (index_sql,) in indexes:
            new.execute(index_sql.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1)
                        .replace("CREATE UNIQUE INDEX", "CREATE UNIQUE INDEX IF NOT EXISTS", 1))
    return len(rows)
