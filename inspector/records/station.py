"""The station database as people's tools open it: the recorder's records to read, and the tables people write.

The recorder owns ``parts`` and ``alarms`` (:mod:`.store`); here they are
only read. People's tables sit beside them (:mod:`.schema`, created on first
open, never altering the recorder's): ``hmi_users`` (:mod:`.accounts`),
``reject_marks`` and ``part_labels`` (:mod:`.marks`). Alarm acknowledgements
live on the station's alarm board, not here. Every write is one short
transaction, so the recorder (WAL, busy timeout) never waits long. Used by
the HMI, the retraining's export and the soak's demo users.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from inspector.errors import StoreError
from inspector.file_modes import owner_only
from inspector.records.accounts import Accounts
from inspector.records.alarms import AlarmReads
from inspector.records.marks import Marks
from inspector.records.parts import PartReads, part_select
from inspector.records.schema import create_station_tables

log = logging.getLogger(__name__)


class StationDatabase(PartReads, Marks, AlarmReads, Accounts):
    """A connection to the station database with people's tables in it (:class:`StoreError` when it cannot be
    opened, read or written)."""

    def __init__(self, database: str | Path, timeout_s: float = 5.0) -> None:
        self.path = Path(database)
        self.timeout_s = timeout_s
        self._conn: sqlite3.Connection | None = None
        self._open()

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection to the database file at the path now: the recorder replaces a database damaged while it
        runs by a fresh one (carrying people's tables over), and the readers follow it there."""
        try:
            moved = self.path.stat().st_ino != self._inode
        except OSError:  # between the damaged file moved aside and the fresh one made: the last one, for a moment
            moved = False
        if moved:
            log.warning("the database %s was replaced by a fresh one (the recorder found it damaged): reopening it", self.path)
            self._conn.close()
            self._open()
        return self._conn

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._conn = sqlite3.connect(str(self.path), timeout=self.timeout_s, check_same_thread=False)
            self._inode = self.path.stat().st_ino
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            create_station_tables(conn)  # the line may not have started yet
            owner_only(self.path)
            self._part_select = part_select(conn)
        except (OSError, sqlite3.Error) as err:
            raise StoreError(f"cannot open the database {self.path}: {err}") from err

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "StationDatabase":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _rows(self, sql: str, args: tuple | list = ()) -> list[sqlite3.Row]:
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.Error as err:
            raise StoreError(f"cannot read the database {self.path}: {err}") from err

    def _write(self, sql: str, args: tuple | list, what: str, many: bool = False) -> int:
        """One transaction; how many rows it changed."""
        try:
            conn = self.conn
            with conn:
                return (conn.executemany if many else conn.execute)(sql, args).rowcount
        except sqlite3.Error as err:
            raise StoreError(f"cannot {what} in {self.path}: {err}") from err
