"""The MQTT outbox: messages on disk until the broker acknowledged them (store-and-forward).

One SQLite file (WAL, owner-only) in the station's state folder. Messages are
appended in the order they must be published and deleted only after the
broker's PUBACK, so a publisher restart, a broker restart or a power cut loses
none: what was not acknowledged is sent again (at least once; receivers
de-duplicate by the id each payload carries). The outbox is bounded by
message count and size; :meth:`Outbox.room` says how many more fit, and the
publisher stops taking new results from the recorder's database while it is
full (they wait there, nothing is dropped).

The same file keeps the publisher's reading position in the recorder's
database, written in the same transaction as the messages read from it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from inspector.errors import StoreError
from inspector.file_modes import owner_only


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    topic: str
    payload: bytes
    retain: bool


class Outbox:
    def __init__(self, path: str | Path, max_messages: int, max_bytes: int) -> None:
        self.path = Path(path)
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(str(self.path), check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            with self.conn:
                self.conn.execute(
                    "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, "
                    "payload BLOB NOT NULL, retain INTEGER NOT NULL DEFAULT 0)"
                )
                self.conn.execute("CREATE TABLE IF NOT EXISTS positions (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
                self.conn.execute("CREATE TABLE IF NOT EXISTS taken (source TEXT NOT NULL, key INTEGER NOT NULL, PRIMARY KEY (source, key))")
            owner_only(self.path)
            self._count, self._bytes = self.conn.execute(
                "SELECT count(*), coalesce(sum(length(payload)), 0) FROM messages"
            ).fetchone()
        except sqlite3.Error as err:
            raise StoreError(f"cannot open the MQTT outbox {self.path}: {err}") from err

    # -- size -------------------------------------------------------------------
    def __len__(self) -> int:
        return self._count

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def room(self) -> int:
        """How many more messages fit (0 when full by count or by size)."""
        if self._bytes >= self.max_bytes:
            return 0
        return max(0, self.max_messages - self._count)

    # -- writing ----------------------------------------------------------------
    def put(
        self,
        messages: Iterable[tuple[str, bytes, bool]],
        positions: dict[str, int] | None = None,
        taken: dict[str, Iterable[int]] | None = None,
        released: dict[str, int] | None = None,
    ) -> int:
        """Append ``(topic, payload, retain)`` messages and move reading positions, in one transaction.

        ``taken`` marks keys of a source read out of order (above its position); ``released`` forgets a
        source's marks at or below a position. Returns how many messages were appended."""
        rows = [(t, p, int(r)) for t, p, r in messages]
        try:
            with self.conn:
                self.conn.executemany("INSERT INTO messages (topic, payload, retain) VALUES (?, ?, ?)", rows)
                for name, value in (positions or {}).items():
                    self.conn.execute(
                        "INSERT INTO positions VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value", (name, value)
                    )
                for source, keys in (taken or {}).items():
                    self.conn.executemany("INSERT OR IGNORE INTO taken VALUES (?, ?)", [(source, k) for k in keys])
                for source, upto in (released or {}).items():
                    self.conn.execute("DELETE FROM taken WHERE source = ? AND key <= ?", (source, upto))
        except sqlite3.Error as err:
            raise StoreError(f"cannot write {len(rows)} message(s) to the MQTT outbox {self.path}: {err}") from err
        self._count += len(rows)
        self._bytes += sum(len(p) for _, p, _ in rows)
        return len(rows)

    def acknowledged(self, ids: Iterable[int]) -> None:
        """Delete messages the broker acknowledged."""
        ids = list(ids)
        if not ids:
            return
        try:
            with self.conn:
                sizes = []
                for start in range(0, len(ids), 500):
                    chunk = ids[start:start + 500]
                    marks = ",".join("?" * len(chunk))
                    sizes += self.conn.execute(f"SELECT length(payload) FROM messages WHERE id IN ({marks})", chunk).fetchall()
                    self.conn.execute(f"DELETE FROM messages WHERE id IN ({marks})", chunk)
        except sqlite3.Error as err:
            raise StoreError(f"cannot delete acknowledged messages from the MQTT outbox {self.path}: {err}") from err
        self._count -= len(sizes)
        self._bytes -= sum(s for (s,) in sizes)

    # -- reading ----------------------------------------------------------------
    def after(self, last_id: int, limit: int) -> list[OutboxMessage]:
        """The oldest messages with an id above ``last_id``, oldest first."""
        rows = self.conn.execute(
            "SELECT id, topic, payload, retain FROM messages WHERE id > ? ORDER BY id LIMIT ?", (last_id, limit)
        ).fetchall()
        return [OutboxMessage(i, t, bytes(p), bool(r)) for i, t, p, r in rows]

    def position(self, name: str) -> int:
        row = self.conn.execute("SELECT value FROM positions WHERE name = ?", (name,)).fetchone()
        return 0 if row is None else int(row[0])

    def taken(self, source: str) -> set[int]:
        return {k for (k,) in self.conn.execute("SELECT key FROM taken WHERE source = ?", (source,))}

    def close(self) -> None:
        self.conn.close()
