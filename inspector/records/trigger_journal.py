"""A camera's trigger journal: every part it triggered, on disk before its part-seen event is sent.

The part-seen event travels to the actuator on a ZeroMQ queue: a frozen or
killed actuator loses what was queued in it (and in the camera's queue to
it), and when no later part comes (the end of a run, a stopped line) no gap
in the sequence shows that those parts were ever triggered. This journal
closes that gap. It is a small SQLite file (WAL) per camera in
``station.state_dir`` (``trigger-journal-CAMERA.db``, owner-only), written
only by that camera's service: one row per trigger (part id, the part-seen
event's sequence number, trigger time), committed before the event is sent.
The commit does not wait for the disk (``synchronous=NORMAL``): once
committed a row survives any crash of a process, which is what a frozen or
killed service is. The WAL is checkpointed (and so synced) by a thread of
its own, never by the trigger's commit, so a slow disk does not hold up a
part. Rows older than ``actuator.journal_keep_hours`` are pruned.

The actuator reads it (read-only, :func:`read_triggers`) to decide every part
it never heard of (:mod:`inspector.actuator.seen_recovery`), and to find the
true trigger time of a part whose part-seen event it knows was lost
(:func:`triggers_of`). Each file carries a random identity, so a reader that
keeps its place by the rows' ``entry`` numbers knows when the file was made
anew.

This module is the journal's one owner: its schema, its writes and every
read of it. A camera on another host than the actuator keeps its journal on
its own host, where the actuator cannot read it: its lost part-seen events
are then found by the sequence gap alone (when a later part comes).
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import threading
import time
from pathlib import Path
from typing import NamedTuple

from inspector.errors import StoreError
from inspector.file_modes import owner_only
from inspector.records.readonly import open_readonly

log = logging.getLogger(__name__)

CHECKPOINT_EVERY_S = 1.0  # the WAL folded into the file (and synced) this often, off the trigger's path
PRUNE_EVERY_S = 10.0  # a few hundred rows at a time at a fast line's rate, never one long delete

_SCHEMA = """
CREATE TABLE IF NOT EXISTS triggers (
    entry INTEGER PRIMARY KEY AUTOINCREMENT,  -- in trigger order, never reused: a reader's place
    part_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,                     -- the part-seen event's number
    t_trigger REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS triggers_part_id ON triggers (part_id);
CREATE TABLE IF NOT EXISTS journal (name TEXT PRIMARY KEY, value INTEGER NOT NULL);  -- 'id': this file's identity
"""


def trigger_journal_path(state_dir: str | Path, camera: str) -> Path:
    return Path(state_dir) / f"trigger-journal-{camera}.db"


class Trigger(NamedTuple):
    entry: int
    part_id: int
    seq: int
    t_trigger: float


class TriggerBatch(NamedTuple):
    journal_id: int  # the file's identity: another value means the journal was made anew
    triggers: list[Trigger]  # in entry order


class TriggerJournal:
    """The camera's side: one connection, one row per trigger."""

    def __init__(self, state_dir: str | Path, camera: str, keep_hours: float) -> None:
        self.path = trigger_journal_path(state_dir, camera)
        self.keep_s = keep_hours * 3600
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # see the module's doc
            self.db.execute("PRAGMA wal_autocheckpoint=0")  # the checkpoint thread does it
            identity = secrets.randbits(62)  # made with the tables, in one transaction: a reader sees both or neither
            self.db.executescript(f"BEGIN; {_SCHEMA} INSERT OR IGNORE INTO journal VALUES ('id', {identity}); COMMIT;")
            owner_only(self.path)
        except (OSError, sqlite3.Error) as err:
            raise StoreError(f"cannot open camera {camera}'s trigger journal {self.path}: {err}") from err
        self._next_prune = 0.0
        self._closing = threading.Event()
        self._checkpointer = threading.Thread(target=self._checkpoints, name=f"trigger-journal-{camera}", daemon=True)
        self._checkpointer.start()

    def _checkpoints(self) -> None:
        """Fold the WAL into the file every CHECKPOINT_EVERY_S on a connection of its own (a passive checkpoint never
        holds up the writer); a failure is logged and tried again."""
        try:
            db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        except sqlite3.Error as err:
            log.error("trigger journal %s: no checkpoints (the WAL grows until the camera stops): %s", self.path, err)
            return
        try:
            while not self._closing.wait(CHECKPOINT_EVERY_S):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as err:
                    log.warning("trigger journal %s: checkpoint failed, tried again: %s", self.path, err)
        finally:
            db.close()

    def record(self, part_id: int, seq: int, t_trigger: float) -> None:
        """One trigger, committed (it survives a crash of the process from here on); :class:`StoreError` if not."""
        with self._lock:
            try:
                self.db.execute("INSERT INTO triggers (part_id, seq, t_trigger) VALUES (?, ?, ?)", (part_id, seq, t_trigger))
                if time.monotonic() >= self._next_prune:
                    self._prune(time.time())
            except (sqlite3.Error, OverflowError) as err:
                raise StoreError(f"cannot write the trigger journal {self.path}: {err}") from err

    def _prune(self, now: float) -> None:
        """Forget triggers older than the keep window: the oldest rows come first in entry order, so the rows to
        delete are found without an index on time."""
        self._next_prune = time.monotonic() + PRUNE_EVERY_S
        first_kept = self.db.execute("SELECT entry FROM triggers WHERE t_trigger >= ? ORDER BY entry LIMIT 1",
                                     (now - self.keep_s,)).fetchone()
        if first_kept is None:
            self.db.execute("DELETE FROM triggers WHERE t_trigger < ?", (now - self.keep_s,))
        else:
            self.db.execute("DELETE FROM triggers WHERE entry < ?", (first_kept[0],))

    def close(self) -> None:
        self._closing.set()
        self._checkpointer.join(10)
        with self._lock:
            self.db.close()  # the last connection: SQLite folds the WAL in


# -- the actuator's reading (read-only) ------------------------------------------------------------------------------
def _read(path: Path, sql: str, args: tuple) -> tuple[int, list[tuple]] | None:
    """The journal's identity and the rows of ``sql``; None while there is no journal. :class:`StoreError` when it
    cannot be read (damaged, not a database, a table missing)."""
    if not path.exists():
        return None
    try:
        db = open_readonly(path, 2.0)
        try:
            identity = db.execute("SELECT value FROM journal WHERE name = 'id'").fetchone()
            rows = db.execute(sql, args).fetchall()
        finally:
            db.close()
    except sqlite3.OperationalError as err:
        if "no such table" in str(err) and not _has_tables(path):  # being made by the camera this moment
            return None
        raise StoreError(f"cannot read the trigger journal {path}: {err}") from err
    except sqlite3.Error as err:
        raise StoreError(f"cannot read the trigger journal {path}: {err}") from err
    if identity is None:
        raise StoreError(f"cannot read the trigger journal {path}: it has no identity (not made by a camera service)")
    return identity[0], rows


def _has_tables(path: Path) -> bool:
    """Whether the file holds any table: an empty database is one the camera is making (its tables come in one
    transaction), not a damaged one."""
    try:
        db = open_readonly(path, 2.0)
        try:
            return db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
        finally:
            db.close()
    except sqlite3.Error:
        return True


def read_triggers(state_dir: str | Path, camera: str, after_entry: int, limit: int) -> TriggerBatch | None:
    """The first ``limit`` triggers after ``after_entry``, in entry order; None while the camera has no journal."""
    found = _read(trigger_journal_path(state_dir, camera),
                  "SELECT entry, part_id, seq, t_trigger FROM triggers WHERE entry > ? ORDER BY entry LIMIT ?",
                  (after_entry, limit))
    return None if found is None else TriggerBatch(found[0], [Trigger(*row) for row in found[1]])


def triggers_of(state_dir: str | Path, camera: str, first_id: int, last_id: int) -> dict[int, Trigger] | None:
    """The journal's last trigger of each part id from ``first_id`` to ``last_id``; None without a journal."""
    found = _read(trigger_journal_path(state_dir, camera),
                  "SELECT entry, part_id, seq, t_trigger FROM triggers WHERE part_id BETWEEN ? AND ? ORDER BY entry",
                  (first_id, last_id))
    return None if found is None else {row[1]: Trigger(*row) for row in found[1]}
