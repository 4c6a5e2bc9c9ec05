"""Files that hold a station's records or secrets are readable by the station's user only."""

from __future__ import annotations

import os
from pathlib import Path

OWNER_ONLY = 0o600


def owner_only(database: Path) -> None:
    """Make a SQLite database and its WAL files owner-only (SQLite gives new WAL files the database's mode)."""
    for suffix in ("", "-wal", "-shm"):
        path = database.with_name(database.name + suffix)
        if path.exists():
            os.chmod(path, OWNER_ONLY)
