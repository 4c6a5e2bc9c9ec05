"""The audit trail: an append-only, keyed, hash-chained log of state-changing actions, anchored outside it.

Every entry records who did what to what, when, and the state before and
after (JSON). Each entry's ``hash`` is an HMAC-SHA-256, under the station's
audit key, of its own content and the previous entry's hash, so changing any
stored field, deleting an entry in the middle or reordering entries breaks
the chain at that entry, and someone who can write the database but not read
the key cannot compute a hash that passes. The key (32 random bytes) lives
in its own file, readable by the station's user only, never in the database.

Deleting entries at the end, or the whole trail, is caught by the anchor: a
separate append-only file (one line per entry: id and hash, synced to disk)
and the system log (when there is one). :meth:`AuditTrail.verify` walks the
chain, checks the database's head record and SQLite's AUTOINCREMENT
sequence, and compares the trail with the anchor; it opens the database
read-only and writes nothing. Triggers refuse UPDATE and DELETE on the
entries, so an edit also takes a deliberate act (dropping the triggers).
A database that is gone, empty (0 bytes) or holds no trail while its anchor
records entries is a broken trail (:func:`verify_trail`), not "no trail".

The log is a SQLite database in WAL mode; appends take the write lock first
(``BEGIN IMMEDIATE``) so concurrent writers from several processes chain
correctly.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import logging.handlers
import os
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspector.errors import InspectorError
from inspector.records.readonly import open_readonly

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


def entry_hash(
    key: bytes, entry_id: int, t: float, user: str, action: str, target: str, before: str, after: str, prev_hash: str
) -> str:
    """HMAC-SHA-256 under ``key`` of an entry's stored content (``before``/``after`` as stored JSON text) and its predecessor's hash."""
    content = canonical_json([entry_id, repr(float(t)), user, action, target, before, after, prev_hash])
    return hmac.new(key, content.encode(), hashlib.sha256).hexdigest()


def default_key_path(database: Path) -> Path:
    return database.with_name(f"{database.stem}.key")


def default_anchor_path(database: Path) -> Path:
    return database.with_name(f"{database.stem}.anchor")


def load_key(path: Path, create: bool) -> bytes:
    """The audit key in ``path``; made (32 random bytes, owner-only) when ``create`` and missing."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        if not create:
            raise AuditError(f"the audit key {path} is missing: without it no entry can be checked") from None
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return load_key(path, create=False)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        log.info("made the audit key %s", path)
        return load_key(path, create=False)
    except OSError as err:
        raise AuditError(f"the audit key {path} cannot be read: {err.strerror}") from err
    try:
        key = bytes.fromhex(text)
    except ValueError as err:
        raise AuditError(f"the audit key {path} is not a hex key") from err
    if len(key) < 16:
        raise AuditError(f"the audit key {path} is too short ({len(key)} bytes)")
    return key


_syslog = logging.getLogger("inspector.audit.anchor")


def _attach_syslog() -> None:
    if _syslog.handlers or not Path("/dev/log").exists():
        return
    try:
        handler = logging.handlers.SysLogHandler(address="/dev/log")
    except OSError:
        return
    handler.setFormatter(logging.Formatter("inspector-audit: %(message)s"))
    _syslog.addHandler(handler)


class Anchor:
    """The append-only file outside the database that records every entry's id and hash."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, entry_id: int, digest: str, t: float) -> None:
        self._write({"id": entry_id, "hash": digest, "t": t})
        _attach_syslog()
        _syslog.info("entry %d %s", entry_id, digest)

    def _write(self, item: dict) -> None:
        line = canonical_json(item) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> list[tuple[int, str]]:
        """``(id, hash)`` of every anchor line, in order; a torn last line (a crash mid-write) is ignored."""
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            return []
        except OSError as err:
            raise AuditError(f"the audit anchor {self.path} cannot be read: {err.strerror}") from err
        anchored = []
        for i, line in enumerate(lines):
            try:
                item = json.loads(line)
                anchored.append((int(item["id"]), str(item["hash"])))
            except (ValueError, KeyError, TypeError):
                if i != len(lines) - 1:
                    raise AuditError(f"the audit anchor {self.path} has a malformed line {i + 1}") from None
        return anchored


class AuditTrail:
    """One audit database with its key and anchor; safe to open from several processes.

    ``key_path`` and ``anchor_path`` default to files beside the database
    (``<name>.key``, ``<name>.anchor``); a station keeps them in its state
    folder (:func:`calibration.station.calibration_paths`). ``readonly`` opens an
    existing trail to read and verify it without writing anything.
    """

    def __init__(
        self,
        database: str | Path,
        key_path: str | Path | None = None,
        anchor_path: str | Path | None = None,
        timeout_s: float = 10.0,
        readonly: bool = False,
    ) -> None:
        self.path = Path(database)
        self.key_path = Path(key_path) if key_path else default_key_path(self.path)
        self.anchor = Anchor(Path(anchor_path) if anchor_path else default_anchor_path(self.path))
        self.readonly = readonly
        try:
            if readonly:
                if not self.path.is_file():
                    raise AuditError(f"no audit database at {self.path}")
                self._db = open_readonly(self.path, timeout_s, isolation_level=None, check_same_thread=False)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fresh = not self.path.exists()
                self._db = sqlite3.connect(str(self.path), timeout=timeout_s, isolation_level=None, check_same_thread=False)
                if fresh:
                    os.chmod(self.path, 0o600)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as err:
            raise AuditError(f"cannot open the audit trail {self.path}: {err}") from err
        self._key = load_key(self.key_path, create=not readonly)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "AuditTrail":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def seal(self, purpose: str, data: bytes) -> str:
        """An HMAC under the station's audit key over ``data``, for records kept beside the trail (user accounts):
        whoever can write the database but not read the key cannot make a matching seal."""
        return hmac.new(self._key, purpose.encode() + b"\0" + data, hashlib.sha256).hexdigest()

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
                digest = entry_hash(self._key, entry_id, t, user, action, target, before_json, after_json, prev_hash)
                self._db.execute(
                    "INSERT INTO audit (id, t, user, action, target, before, after, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?)",
                    (entry_id, t, user, action, target, before_json, after_json, prev_hash, digest),
                )
                self._db.execute("UPDATE audit_head SET entries = ?, last_hash = ? WHERE one = 1", (entries + 1, digest))
                # anchored under the write lock, just before the commit: lines stay in entry order; a crash between the
                # two leaves an anchor line the trail lacks, which verify reports rather than forgives
                self.anchor.append(entry_id, digest, t)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        except (sqlite3.Error, OSError) as err:
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
        """Walk the chain from the start and compare it with the anchor; the first broken entry, or None when intact."""
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
            if not hmac.compare_digest(
                entry_hash(self._key, entry_id, t, user, action, target, before, after, stored_prev), stored_hash
            ):
                return BrokenEntry(entry_id, "its content does not match its keyed hash (the entry was edited or forged)")
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
        return self._check_anchor({row[0]: row[8] for row in rows}, last_id)

    def _check_anchor(self, hashes: dict[int, str], last_id: int) -> BrokenEntry | None:
        """The trail against its anchor: every anchored entry present with its hash, nothing anchored beyond the end."""
        anchored = self.anchor.read()
        if not anchored:
            if last_id:
                return BrokenEntry(1, f"the anchor {self.anchor.path} is missing or empty: the trail cannot be checked for truncation")
            return None
        highest = max(entry_id for entry_id, _ in anchored)
        for entry_id, digest in anchored:
            if entry_id > last_id:
                return BrokenEntry(
                    entry_id, f"the trail ends at entry {last_id}, its anchor records entries up to {highest} "
                    "(entries at the end were removed, or the station crashed between anchoring an entry and storing it)"
                )
            if hashes.get(entry_id) != digest:
                return BrokenEntry(entry_id, "the entry differs from the hash its anchor recorded (it was replaced)")
        if highest < last_id:
            return BrokenEntry(highest + 1, "entries after the last anchored one were not written by this station")
        return None

    def count(self) -> int:
        return self._query("SELECT count(*) FROM audit")[0][0]

    def holds_trail(self) -> bool:
        """Whether the database has the trail's table at all (a database replaced by another has not)."""
        return bool(self._query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit'"))

    def _query(self, sql: str, args: list | tuple = ()) -> list[tuple]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as err:
            raise AuditError(f"cannot read the audit trail {self.path}: {err}") from err


def verify_trail(database: Path, key_path: Path, anchor_path: Path) -> tuple[int, BrokenEntry | None]:
    """Verify the trail in ``database`` against ``key_path`` and ``anchor_path``: (entries, the first broken one or None).

    A database that is missing, empty (0 bytes) or holds no trail is broken when the anchor records entries (the
    trail was deleted or replaced), and :class:`AuditError` ("no audit database") only when nothing was anchored
    either: then there is no trail to check.
    """
    state = _absent(database)
    if state is None:
        with AuditTrail(database, key_path, anchor_path, readonly=True) as trail:
            if trail.holds_trail():
                return trail.count(), trail.verify()
        state = "a database without an audit trail in it"
    anchored = Anchor(anchor_path).read()
    if not anchored:
        raise AuditError(f"no audit database at {database} ({state}) and nothing in its anchor {anchor_path}: no trail to check")
    first, highest = min(i for i, _ in anchored), max(i for i, _ in anchored)
    return 0, BrokenEntry(first, f"the audit database {database} is {state}, but its anchor {anchor_path} records "
                                 f"{len(anchored)} entries up to id {highest}: the trail was deleted, emptied or replaced")


def _absent(database: Path) -> str | None:
    """Why ``database`` holds no trail on its face ('missing', 'empty (0 bytes)'), or None when there is a file to read."""
    try:
        size = database.stat().st_size
    except FileNotFoundError:
        return "missing"
    except OSError as err:
        raise AuditError(f"the audit database {database} cannot be read: {err.strerror}") from err
    if not database.is_file():
        return "not a file"
    return "empty (0 bytes)" if size == 0 else None


def _entry(row: tuple) -> AuditEntry:
    entry_id, t, user, action, target, before, after, prev_hash, digest = row
    return AuditEntry(entry_id, t, user, action, target, json.loads(before), json.loads(after), prev_hash, digest)
