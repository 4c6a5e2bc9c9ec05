"""The one way to open an SQLite database read-only, for every database of the station.

A read-only connection is an SQLite URI with ``mode=ro``: it never creates
the file, never writes it, and reads a WAL database while its writer runs.
The path is quoted into the URI, so a folder named with ``?``, ``#`` or
``%`` opens the file it names. The other owners of databases (the audit
trail, the alarm board, the drift series, the actuator's journal) open theirs
read-only here too.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from inspector.errors import StoreError


def readonly_uri(path: str | Path) -> str:
    return f"file:{quote(str(path))}?mode=ro"


def open_readonly(path: str | Path, timeout_s: float = 5.0, *, rows: bool = False, **connect: Any) -> sqlite3.Connection:
    """A read-only connection to ``path`` (``rows``: rows as :class:`sqlite3.Row`); ``connect`` goes to
    :func:`sqlite3.connect` (``check_same_thread``, ``isolation_level``). Raises :class:`sqlite3.Error`."""
    conn = sqlite3.connect(readonly_uri(path), uri=True, timeout=timeout_s, **connect)
    if rows:
        conn.row_factory = sqlite3.Row
    return conn


@contextmanager
def reading(path: str | Path, timeout_s: float = 5.0, *, rows: bool = False) -> Iterator[sqlite3.Connection]:
    """A read-only connection for one ``with`` block, closed at its end."""
    conn = open_readonly(path, timeout_s, rows=rows)
    try:
        yield conn
    finally:
        conn.close()


def table_names(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def column_names(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')}


def rows_while_there(database: str | Path, sql: str, args: tuple = (), timeout_s: float = 2.0) -> list[sqlite3.Row]:
    """Rows of ``database`` (the station database), read-only; none while it or the table does not exist yet (a line
    starting), or while it is busy past ``timeout_s``. :class:`StoreError` when it cannot be read (damaged)."""
    if not Path(database).exists():
        return []
    try:
        with reading(database, timeout_s, rows=True) as conn:
            return conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError:
        return []
    except sqlite3.Error as err:
        raise StoreError(f"cannot read the station database {database}: {err}") from err
