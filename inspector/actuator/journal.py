"""The actuator's journal: every part it saw and every decision, on disk before the PLC hears of it.

The decision stream to the recorder is a ZeroMQ queue: a killed actuator
loses what was queued in it, a killed recorder what it had received but not
written. The journal closes both gaps. It is a SQLite file (WAL) in
``station.state_dir``, written only by the actuator:

- a part-seen event is journaled when it arrives (outcome ``seen``);
- a decision is journaled before its PLC write (``writing``), then updated
  with what the PLC answered and the PLC sequence number it carries
  (``delivered`` or ``undelivered``). A write without an answer stays
  ``writing`` until the PLC's tags, read back at the reconnect, settle it
  (:mod:`plc_io.reconcile`). The decision stream's number is given with the
  final record (a decision held for its PLC's answer takes the next one).

Durability is placed where it costs the line nothing. The records made on
the decision's path (``seen``, ``writing``) are committed to the WAL without
waiting for the disk: once committed they survive any crash of the process
(the operating system holds them), which is what kills a service. The
record of the PLC's answer, after the write, is synced (``fsync``), and with
it everything before: after a power loss or a kernel crash at most the
decision whose PLC write was in flight is missing, and the PLC's own sequence
tag says whether it arrived. Syncing on the decision's path measured 1.4 ms
p50 on the reference machine under the line's load, for no gain against a
process crash.

At start the actuator recovers what its last run left open (:meth:`recover`):
a part seen but never decided is decided fail-safe now (never written to the
PLC: the part is past the reject gate, :mod:`inspector.actuator.reject_gate`) and a decision whose PLC write was in
progress is marked ``unknown``; both are reported with an alarm. The delivery
numbering and the PLC sequence continue across restarts. The recorder reads
the journal (read-only) to record every final decision that never reached it
(:func:`final_decisions`); the bench's accounting reads what it saw
(:func:`journal_entries`, :func:`journal_counts`). Which parts it holds
(:meth:`DecisionJournal.holds`) is what decides whether a part found in a
camera's trigger journal was lost: the journal is the one record of what the
actuator decided, across its runs; how far each camera's trigger journal was
read is kept here too (:meth:`DecisionJournal.reconciled`,
:mod:`inspector.actuator.seen_recovery`).

This module is the journal's one owner: its schema, its writes and every
read of it. Its table ``parts`` is the journal's, in the journal's own file,
not the recorder's ``parts`` table of the station database
(:mod:`inspector.records`).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, NamedTuple

from msgspec.structs import replace

from inspector.actuator.reject_gate import NOT_WRITTEN, not_written
from inspector.errors import StoreError
from inspector.file_modes import owner_only
from inspector.messages import Decision, DecisionResult, PartSeen, decode_json, to_json
from inspector.records.readonly import open_readonly

log = logging.getLogger(__name__)

JOURNAL_FILE = "actuator-journal.db"
FINAL_OUTCOMES = ("delivered", "undelivered", "unknown")

_SCHEMA = """
-- the journal's parts: every part the actuator saw and its decision (not the recorder's parts table)
CREATE TABLE IF NOT EXISTS parts (
    camera TEXT NOT NULL,
    part_id INTEGER NOT NULL,
    seen_seq INTEGER,
    t_trigger REAL NOT NULL,
    t_seen REAL NOT NULL,
    outcome TEXT NOT NULL,          -- seen | writing | delivered | undelivered | unknown
    decision TEXT,                  -- the Decision as JSON, as the PLC's answer left it
    t_outcome REAL,
    PRIMARY KEY (camera, part_id)
);
CREATE INDEX IF NOT EXISTS parts_t_outcome ON parts (t_outcome);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


def part_list(decisions: list[Decision], shown: int = 10) -> str:
    """The decisions' part ids for an alarm text: the first ``shown``, then how many more."""
    ids = ", ".join(str(d.part_id) for d in decisions[:shown])
    return ids + (f" (+{len(decisions) - shown} more)" if len(decisions) > shown else "")


def journal_path(state_dir: str | Path) -> Path:
    return Path(state_dir) / JOURNAL_FILE


class TriggerMark(NamedTuple):
    """How far the actuator has reconciled a camera's trigger journal (:mod:`inspector.records.trigger_journal`)."""

    journal_id: int  # the camera journal's identity
    entry: int  # its last entry reconciled


@dataclass(frozen=True)
class Recovery:
    """What the previous run of the actuator left open, now closed."""

    undecided: list[Decision]  # seen, never decided: decided fail-safe now, not written to the PLC
    unknown: list[Decision]  # the PLC write was in progress: whether the PLC took it is unknown
    delivery_seq: int  # the last decision-stream number used
    seen_seq: dict[str, int]  # per camera, the last part-seen sequence number
    trigger_marks: dict[str, TriggerMark]  # per camera, how far its trigger journal was read
    created: float  # when this journal was made (epoch s)

    @property
    def decisions(self) -> list[Decision]:
        return sorted(self.undecided + self.unknown, key=lambda d: (d.camera, d.part_id))


def _record(decision: Decision, outcome: str) -> tuple[str, tuple]:
    return (
        "INSERT INTO parts (camera, part_id, t_trigger, t_seen, outcome, decision, t_outcome) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (camera, part_id) DO UPDATE SET outcome = excluded.outcome, decision = excluded.decision, "
        "t_outcome = excluded.t_outcome",
        (decision.camera, decision.part_id, decision.t_trigger, decision.t_decided, outcome,
         to_json(decision).decode(), time.time()),
    )


def _count(name: str, value: int) -> tuple[str, tuple]:
    return "INSERT INTO counters VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value", (name, value)


class DecisionJournal:
    """The actuator's side: thread-safe, one connection."""

    def __init__(self, state_dir: str | Path, keep_hours: float) -> None:
        self.path = journal_path(state_dir)
        self.keep_s = keep_hours * 3600
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # see the module's doc: synced after the PLC write
            self.db.executescript(_SCHEMA)
            self.db.execute("INSERT OR IGNORE INTO counters VALUES ('created', ?)", (int(time.time()),))
            owner_only(self.path)
        except (OSError, sqlite3.Error) as err:
            raise StoreError(f"cannot open the actuator's journal {self.path}: {err}") from err
        self._last_prune = 0.0

    def _write(self, *statements: tuple[str, tuple], synced: bool = False) -> None:
        """Run ``statements`` as one transaction (one commit)."""
        with self._lock:
            try:
                if synced:
                    self.db.execute("PRAGMA synchronous=FULL")
                try:
                    self.db.execute("BEGIN")
                    try:
                        for sql, params in statements:
                            self.db.execute(sql, params)
                        self.db.execute("COMMIT")
                    except sqlite3.Error:
                        if self.db.in_transaction:
                            self.db.execute("ROLLBACK")
                        raise
                finally:
                    if synced:
                        self.db.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.Error as err:
                raise StoreError(f"cannot write the actuator's journal {self.path}: {err}") from err

    def seen(self, part: PartSeen, now: float) -> None:
        self._write(
            ("INSERT OR IGNORE INTO parts (camera, part_id, seen_seq, t_trigger, t_seen, outcome) VALUES (?, ?, ?, ?, ?, 'seen')",
             (part.camera, part.part_id, part.seq, part.t_trigger, now)),
            _count(f"seen_seq:{part.camera}", part.seq),
        )

    def writing(self, decision: Decision) -> None:
        """The decision, committed before its PLC write (it survives a crash of the process from here on); not yet
        numbered (seq 0) unless it says its number."""
        numbered = [_count("delivery_seq", decision.seq)] if decision.seq else []
        self._write(*numbered, _record(decision, "writing"))

    def answered(self, decision: Decision) -> None:
        """The decision as the PLC's answer left it (delivered or not, PLC sequence number), numbered, synced to disk."""
        self._write(_count("delivery_seq", decision.seq), _record(decision, "delivered" if decision.plc_delivered else "undelivered"),
                    synced=True)
        self.prune(time.time())

    def unwritten(self, decision: Decision, seen_seq: int | None = None) -> None:
        """A decision that is final without a PLC write (a part past the reject gate; a part whose part-seen event was
        lost, with the number that event had), synced to disk. A part journaled as seen keeps its number."""
        numbered = [] if seen_seq is None else [
            ("UPDATE parts SET seen_seq = ? WHERE camera = ? AND part_id = ?", (seen_seq, decision.camera, decision.part_id))]
        self._write(_count("delivery_seq", decision.seq), _record(decision, "undelivered"), *numbered, synced=True)

    def prune(self, now: float) -> None:
        """Forget final rows older than the keep window (at most once a minute)."""
        if now - self._last_prune < 60:
            return
        self._last_prune = now
        self._write((f"DELETE FROM parts WHERE outcome IN {FINAL_OUTCOMES} AND t_outcome < ?", (now - self.keep_s,)))

    def recover(self, failsafe_result: DecisionResult, station: str, now: float) -> Recovery:
        """Close what the previous run left open (see the module's doc); the closed decisions are journaled final."""
        with self._lock:
            rows = self.db.execute(
                "SELECT camera, part_id, t_trigger, outcome, decision FROM parts WHERE outcome IN ('seen', 'writing') "
                "ORDER BY camera, part_id"
            ).fetchall()
            counters = dict(self.db.execute("SELECT name, value FROM counters").fetchall())
        undecided, unknown = [], []
        for camera, part_id, t_trigger, outcome, text in rows:
            if outcome == "seen":
                undecided.append(not_written(
                    Decision(station, camera, part_id, 0, failsafe_result, "deadline", t_trigger, now, False),
                    failsafe_result, f"not decided: the actuator stopped before the part's deadline; {NOT_WRITTEN}",
                ))
            else:
                decision = decode_json(Decision, text.encode())
                unknown.append(replace(
                    decision, plc_delivered=False,
                    plc_error="the actuator stopped during the PLC write: whether the PLC took it is unknown",
                ))
        seq = counters.get("delivery_seq", 0)
        closed: dict[str, list[Decision]] = {"undelivered": [], "unknown": []}
        statements = []
        for outcome, decisions in (("undelivered", undecided), ("unknown", unknown)):
            for decision in decisions:
                seq += 1
                closed[outcome].append(replace(decision, seq=seq))
                statements.append(_record(closed[outcome][-1], outcome))
        self._write(*statements, _count("delivery_seq", seq))
        seen_seq = {name.split(":", 1)[1]: value for name, value in counters.items() if name.startswith("seen_seq:")}
        marks = {name.split(":", 1)[1]: TriggerMark(value, counters.get(f"trigger_entry:{name.split(':', 1)[1]}", 0))
                 for name, value in counters.items() if name.startswith("trigger_journal:")}
        return Recovery(closed["undelivered"], closed["unknown"], seq, seen_seq, marks, counters.get("created", 0))

    def holds(self, camera: str, part_ids: list[int]) -> set[int]:
        """Which of ``part_ids`` of ``camera`` the journal holds, in any outcome (seen, being written, final)."""
        if not part_ids:
            return set()
        with self._lock:
            try:
                rows = self.db.execute("SELECT part_id FROM parts WHERE camera = ? AND part_id BETWEEN ? AND ?",
                                       (camera, min(part_ids), max(part_ids))).fetchall()
            except sqlite3.Error as err:
                raise StoreError(f"cannot read the actuator's journal {self.path}: {err}") from err
        return {r[0] for r in rows} & set(part_ids)

    def reconciled(self, camera: str, mark: TriggerMark) -> None:
        """How far ``camera``'s trigger journal is reconciled: written after the decisions it made (the same thread),
        so a crash between them reads those triggers again, never skips one."""
        self._write(_count(f"trigger_journal:{camera}", mark.journal_id), _count(f"trigger_entry:{camera}", mark.entry))

    def close(self) -> None:
        with self._lock:
            self.db.close()


def unrecorded_decisions(state_dir: str | Path, since: float, until: float) -> list[Decision]:
    """Final decisions the journal holds with an outcome between ``since`` and ``until`` (read-only)."""
    return [decision for _, decision in final_decisions(state_dir, since, until)]


def final_decisions(state_dir: str | Path, since: float, until: float, limit: int | None = None) -> list[tuple[float, Decision]]:
    """The first ``limit`` final decisions with an outcome between ``since`` and ``until``, with its time, in
    outcome order (read-only): a long stretch is read a chunk at a time."""
    path = journal_path(state_dir)
    if not path.exists():
        return []
    try:
        db = open_readonly(path)
        try:
            rows = db.execute(
                f"SELECT t_outcome, decision FROM parts WHERE outcome IN {FINAL_OUTCOMES} AND t_outcome >= ? AND t_outcome < ? "
                "ORDER BY t_outcome LIMIT ?",
                (since, until, -1 if limit is None else limit),
            ).fetchall()
        finally:
            db.close()
    except sqlite3.Error as err:
        raise StoreError(f"cannot read the actuator's journal {path}: {err}") from err
    return [(t, decode_json(Decision, text.encode())) for t, text in rows]


# -- what the bench's accounting reads (read-only; none while there is no journal) -------------------------------------
class JournalEntry(NamedTuple):
    camera: str
    part_id: int
    seen_seq: int | None  # the part-seen event's number (None: the event never came)
    t_trigger: float  # as the part-seen event (or the decision, without one) gave it
    outcome: str
    t_trigger_decided: float | None  # the trigger time the decision carries (another part's when an id came twice)
    source: str | None  # the decision's source (TRIGGER_TIME_UNKNOWN: its trigger time is an upper bound)


@contextmanager
def journal_held(state_dir: str | Path) -> Iterator[None]:
    """The journal held by another connection's exclusive transaction, as a stalled disk or a backup holds it: every
    write of the actuator waits until the block ends. For the benchmarks that show the actuator living through it."""
    db = sqlite3.connect(str(journal_path(state_dir)), isolation_level=None)
    try:
        db.execute("BEGIN EXCLUSIVE")
        yield
        db.execute("ROLLBACK")
    finally:
        db.close()


def _read(state_dir: str | Path, sql: str, args: tuple = ()) -> list[tuple]:
    path = journal_path(state_dir)
    if not path.exists():
        return []
    try:
        db = open_readonly(path, 10)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()
    except sqlite3.OperationalError:  # being made, or busy past the timeout: nothing yet
        return []
    except sqlite3.Error as err:
        raise StoreError(f"cannot read the actuator's journal {path}: {err}") from err


def journal_entries(state_dir: str | Path) -> list[JournalEntry]:
    """Every part the journal holds."""
    return [JournalEntry(*r) for r in _read(
        state_dir, "SELECT camera, part_id, seen_seq, t_trigger, outcome, json_extract(decision, '$.t_trigger'), "
                   "json_extract(decision, '$.source') FROM parts")]


def journal_counts(state_dir: str | Path) -> dict[str, int]:
    """How many parts the journal holds (seen), with a final decision, and delivered to the PLC."""
    rows = _read(state_dir, f"SELECT count(*), coalesce(sum(outcome IN {FINAL_OUTCOMES}), 0), "
                            "coalesce(sum(outcome = 'delivered'), 0) FROM parts")
    seen, decided, delivered = rows[0] if rows else (0, 0, 0)
    return {"journal_seen": seen, "journal_decided": decided, "journal_delivered": delivered}


def journaled_between(state_dir: str | Path, t_from: float, t_to: float) -> int:
    """Parts journaled as seen, triggered in [t_from, t_to)."""
    rows = _read(state_dir, "SELECT count(*) FROM parts WHERE t_trigger >= ? AND t_trigger < ?", (float(t_from), float(t_to)))
    return rows[0][0] if rows else 0


def journaled_part_ids(state_dir: str | Path, outcomes: tuple[str, ...] | None = None) -> list[int]:
    """The part ids the journal holds (with one of ``outcomes``; None: any)."""
    if outcomes is None:
        return [r[0] for r in _read(state_dir, "SELECT part_id FROM parts")]
    return [r[0] for r in _read(state_dir, f"SELECT part_id FROM parts WHERE outcome IN ({', '.join('?' * len(outcomes))})", outcomes)]
