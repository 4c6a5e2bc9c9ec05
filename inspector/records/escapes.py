"""The ``report_escapes`` table: defective parts found downstream, as the reports count them.

What an escape is and how a file of them is read is the reports'
(:mod:`inspector.reports.escapes`); this is its storage. A row equal to one
already stored (time, count, part, camera, defect, note) is not stored
again. The table is created by its first write.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from inspector.errors import StoreError
from inspector.records.readonly import reading, table_names
from inspector.records.schema import create_escapes_table

_INSERT = ("INSERT OR IGNORE INTO report_escapes (t, count, part_id, camera, defect, note, source, imported) "
           "VALUES (:t, :count, :part_id, :camera, :defect, :note, :source, :imported)")


def _open(database: str | Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(database), timeout=10)
    try:
        create_escapes_table(conn)
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def trigger_times(database: str | Path, parts: list[tuple[int, str]]) -> list[list[float | None]]:
    """Per (part id, camera) the trigger times of the recorded parts of that id (of that camera; of any camera when
    it is ''): one time when the part is known, none when not, several when cameras share the id."""
    try:
        with reading(database, 10) as conn:
            if "parts" not in table_names(conn):
                return [[] for _ in parts]
            return [[r[0] for r in conn.execute("SELECT t_trigger FROM parts WHERE part_id = ?" + (" AND camera = ?" if camera else ""),
                                                (part_id, camera) if camera else (part_id,))]
                    for part_id, camera in parts]
    except sqlite3.Error as err:
        raise StoreError(f"cannot read the parts of {database}: {err}") from err


def add_escapes(database: str | Path, rows: list[dict[str, Any]]) -> int:
    """Store escape rows (t, count, part_id, camera, defect, note, source, imported), all or none; how many were new."""
    try:
        conn = _open(database)
        try:
            with conn:
                before = conn.total_changes
                conn.executemany(_INSERT, rows)
                return conn.total_changes - before
        finally:
            conn.close()
    except sqlite3.Error as err:
        raise StoreError(f"cannot store escapes in {database}: {err}") from err


def add_escape(database: str | Path, row: dict[str, Any]) -> int | None:
    """Store one escape row; its id, None when an equal one is stored already."""
    try:
        conn = _open(database)
        try:
            with conn:
                cursor = conn.execute(_INSERT, row)
                return cursor.lastrowid if cursor.rowcount else None
        finally:
            conn.close()
    except sqlite3.Error as err:
        raise StoreError(f"cannot store the escape in {database}: {err}") from err


def forget_escape(database: str | Path, escape_id: int) -> None:
    """Remove a stored escape (one whose audit record could not be written)."""
    try:
        conn = sqlite3.connect(str(database), timeout=10)
        try:
            with conn:
                conn.execute("DELETE FROM report_escapes WHERE id = ?", (escape_id,))
        finally:
            conn.close()
    except sqlite3.Error as err:
        raise StoreError(f"cannot remove escape {escape_id} from {database}: {err}") from err
