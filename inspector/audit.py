"""The audit trail: an append-only, hash-chained log of state-changing actions.

Every entry records who did what to what, when, and the state before and
after (JSON). Each entry's ``hash`` is the SHA-256 of its own content and the
previous entry's hash, so changing any stored field, deleting an entry in the
middle or reordering entries breaks the chain at that entry. Deleting entries
at the end is caught by the log's head (entry count and last hash, updated in
the same transaction as every append) and by SQLite's AUTOINCREMENT sequence.
Triggers refuse UPDATE and DELETE on the entries, so an edit takes a
deliberate act (dropping the triggers), which :meth:`AuditTrail.verify` still
detects.

The log is a SQLite database in WAL mode; appends take the write lock first
(``BEGIN IMMEDIATE``) so concurrent writers from several processes chain
correctly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspector.errors import InspectorError

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    t REAL NOT NULL,
    user TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    before TEXT NOT NULL,
    after TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_action_target ON audit (action, target);
CREATE TABLE IF NOT EXISTS audit_head (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    entries INTEGER NOT NULL,
    last_hash TEXT NOT NULL
);
INSERT OR IGNORE INTO audit_head (one, entries, last_hash) VALUES (1, 0, '""" + GENESIS_HASH + """');
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
"""


class AuditError(InspectorError):
    """The audit trail could not be opened, read or appended to."""


@dataclass(frozen=True)
class AuditEntry:
    id: int
    t: float
    user: str
    action: str
    target: str
    before: Any
    after: Any
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class BrokenEntry:
    """Where the chain breaks: the first entry that is not what was appended, and why."""

    entry_id: int
    reason: str

    def __str__(self) -> str:
        return f"entry {self.entry_id}: {self.reason}"


def canonical_json(value: Any) -> str:
    """The one JSON text of a value that is stored and hashed (sorted keys, no spaces)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_hash(entry_id: int, t: float, user: str, action: str, target: str, before: str, after: str, prev_hash: str) -> str:
    """SHA-256 over an entry's stored content (``before``/``after`` as stored JSON text) and its predecessor's hash."""
    content = canonical_json([entry_id, repr(float(t)), user, action, target, before, after, prev_hash])
    return hashlib.sha256(content.encode()).hexdigest()


class AuditTrail:
    """One audit database; safe to open from several processes."""

    def __init__(self, database: str | Path, timeout_s: float = 10.0) -> None:
        self.path = Path(database)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), timeout=timeout_s, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as err:
            raise AuditError(f"cannot open the audit trail {self.path}: {err}") from err

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "AuditTrail":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record(self, user: str, action: str, target: str, before: Any = None, after: Any = None, t: float | None = None) -> AuditEntry:
        """Append one entry and return it as stored."""
        t = time.time() if t is None else float(t)
        try:
            before_json, after_json = canonical_json(before), canonical_json(after)
        except (TypeError, ValueError) as err:
            raise AuditError(f"audit entry {action} on {target}: before/after must be plain JSON data: {err}") from err
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                entries, prev_hash = self._db.execute("SELECT entries, last_hash FROM audit_head WHERE one = 1").fetchone()
                seq = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").fetchone()
                entry_id = (seq[0] if seq else 0) + 1
                digest = entry_hash(entry_id, t, user, action, target, before_json, after_json, prev_hash)
                self._db.execute(
                    "INSERT INTO audit (id, t, user, action, target, before, after, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?)",
                    (entry_id, t, user, action, target, before_json, after_json, prev_hash, digest),
                )
                self._db.execute("UPDATE audit_head SET entries = ?, last_hash = ? WHERE one = 1", (entries + 1, digest))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as err:
            raise AuditError(f"cannot append {action} on {target} to the audit trail {self.path}: {err}") from err
        log.info("audit: %s %s on %s (entry %d)", user, action, target, entry_id)
        return AuditEntry(entry_id, t, user, action, target, before, after, prev_hash, digest)

    def entries(self, action: str | None = None, target: str | None = None) -> list[AuditEntry]:
        """Entries in order, optionally only those of one action and/or target."""
        where, args = [], []
        if action is not None:
            where.append("action = ?")
            args.append(action)
        if target is not None:
            where.append("target = ?")
            args.append(target)
        sql = "SELECT id, t, user, action, target, before, after, prev_hash, hash FROM audit"
        sql += (" WHERE " + " AND ".join(where)) if where else ""
        return [_entry(row) for row in self._query(sql + " ORDER BY id", args)]

    def latest(self, action: str, target: str | None = None) -> AuditEntry | None:
        """The most recent entry of ``action`` (on ``target``), or None."""
        found = self.entries(action, target)
        return found[-1] if found else None

    def verify(self) -> BrokenEntry | None:
        """Walk the chain from the start; return the first broken entry, or None when intact."""
        rows = self._query("SELECT id, t, user, action, target, before, after, prev_hash, hash FROM audit ORDER BY id")
        prev_hash, last_id = GENESIS_HASH, 0
        for entry_id, t, user, action, target, before, after, stored_prev, stored_hash in rows:
            if stored_prev != prev_hash:
                reason = (
                    f"its predecessor's hash does not match (an entry before it, id {last_id + 1}"
                    f"{'..' + str(entry_id - 1) if entry_id - 1 > last_id + 1 else ''}, was deleted or changed)"
                    if entry_id != last_id + 1
                    else "it does not chain to the entry before it (entries were reordered or rewritten)"
                )
                return BrokenEntry(entry_id, reason)
            if entry_hash(entry_id, t, user, action, target, before, after, stored_prev) != stored_hash:
                return BrokenEntry(entry_id, "its content does not match its hash (the entry was edited)")
            prev_hash, last_id = stored_hash, entry_id
        head = self._query("SELECT entries, last_hash FROM audit_head WHERE one = 1")
        seq = self._query("SELECT seq FROM sqlite_sequence WHERE name = 'audit'")
        if not head:
            return BrokenEntry(last_id + 1, "the log's head record is missing")
        entries, last_hash = head[0]
        highest = seq[0][0] if seq else 0
        if entries != len(rows) or last_hash != prev_hash or highest != last_id:
            return BrokenEntry(
                last_id + 1,
                f"entries at the end are missing: the log holds {len(rows)} entries up to id {last_id}, "
                f"its head records {entries} and ids were issued up to {highest}",
            )
        return None

    def count(self) -> int:
        return self._query("SELECT count(*) FROM audit")[0][0]

    def _query(self, sql: str, args: list | tuple = ()) -> list[tuple]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as err:
            raise AuditError(f"cannot read the audit trail {self.path}: {err}") from err


def _entry(row: tuple) -> AuditEntry:
    entry_id, t, user, action, target, before, after, prev_hash, digest = row
    return AuditEntry(entry_id, t, user, action, target, json.loads(before), json.loads(after), prev_hash, digest)
