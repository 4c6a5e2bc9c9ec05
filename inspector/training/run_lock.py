"""Which training run is being trained right now: a lock held on ``<run>/training.lock`` while it trains.

A run whose ``run.json`` says "training" is either still training (a process
holds the lock) or was interrupted (nobody does): export and resume tell the
two apart instead of guessing. The lock goes with its process, however that
process ends (kill -9 included), so a stale lock never blocks a resume.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import IO, Self

from inspector.errors import TrainingError

LOCK_FILE = "training.lock"


class RunLock:
    """Held while a run trains: ``with RunLock(run_dir): ...``."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self._file: IO[str] | None = None

    def __enter__(self) -> Self:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            handle.close()
            raise TrainingError(f"the run in {self.path.parent} is being trained right now ({training_now(self.path.parent)})") from err
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        handle.flush()
        self._file = handle
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def training_now(run_dir: Path) -> str | None:
    """Who trains the run now ("pid 4711 since ..."), or None when nobody does."""
    path = Path(run_dir) / LOCK_FILE
    if not path.is_file():
        return None
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return handle.read().strip() or "another process"
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None
