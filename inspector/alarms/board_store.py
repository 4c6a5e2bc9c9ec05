"""The alarm board on disk: one small SQLite file in the station's state folder, written by its keeper only.

Readers (the MQTT publisher, the HMI without a line, ``inspector alarms``)
open it read-only through :func:`read_board`. The whole board is rewritten in
one transaction on each flush: it holds one row per (source, code), a few
dozen at most.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Iterable

from inspector.errors import MessageError, StoreError
from inspector.file_modes import owner_only
from inspector.messages import AlarmEntry, decode_json, to_json
from inspector.records.readonly import open_readonly

log = logging.getLogger(__name__)

BOARD_FILE = "alarm-board.db"
_SCHEMA = "CREATE TABLE IF NOT EXISTS entries (source TEXT NOT NULL, code TEXT NOT NULL, entry TEXT NOT NULL, PRIMARY KEY (source, code))"


def board_path(state_dir: str | Path) -> Path:
    return Path(state_dir) / BOARD_FILE


def _entries(rows: Iterable[tuple[str]], path: Path) -> list[AlarmEntry]:
    entries = []
    for (text,) in rows:
        try:
            entries.append(decode_json(AlarmEntry, text))
        except MessageError as err:  # a row an older or damaged writer left: skipped, said once
            log.warning("alarm board %s: an unreadable entry was skipped: %s", path, err)
    return entries


class BoardStore:
    def __init__(self, state_dir: str | Path) -> None:
        self.path = board_path(state_dir)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(_SCHEMA)
            owner_only(self.path)
        except (OSError, sqlite3.Error) as err:
            raise StoreError(f"cannot open the alarm board {self.path}: {err}") from err

    def load(self) -> list[AlarmEntry]:
        try:
            return _entries(self.db.execute("SELECT entry FROM entries"), self.path)
        except sqlite3.DatabaseError as err:
            log.error("alarm board %s cannot be read (%s); starting from an empty board", self.path, err)
            return []

    def save(self, entries: Iterable[AlarmEntry]) -> None:
        rows = [(e.source, e.code, to_json(e).decode()) for e in entries]
        try:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM entries")
            self.db.executemany("INSERT INTO entries VALUES (?, ?, ?)", rows)
            self.db.execute("COMMIT")
        except sqlite3.Error as err:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise StoreError(f"cannot write the alarm board {self.path}: {err}") from err

    def close(self) -> None:
        self.db.close()


def read_board(state_dir: str | Path) -> list[AlarmEntry]:
    """The board as last written (read-only); empty when there is none yet. Raises StoreError when unreadable."""
    path = board_path(state_dir)
    if not path.exists():
        return []
    try:
        db = open_readonly(path, 2)
        try:
            return _entries(db.execute("SELECT entry FROM entries").fetchall(), path)
        finally:
            db.close()
    except sqlite3.Error as err:
        raise StoreError(f"cannot read the alarm board {path}: {err}") from err



def standing_alarms(state_dir: str | Path, now: float) -> list[dict[str, object]]:
    """The standing alarms (active, not shelved) as the plant's outputs show them: source, code, severity, text, t."""
    return [
        {"source": e.source, "code": e.code, "severity": e.severity, "text": e.text, "t": e.t_raised}
        for e in sorted(read_board(state_dir), key=lambda e: e.t_raised)
        if e.standing(now)
    ]
