"""Run a supervised line in-process (tests, benchmarks) and read back what it recorded (:mod:`inspector.records`)."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from inspector.config import write_config
from inspector.config.schema import Config
from inspector.line_keys import init_keys
from inspector.records import alarms, parts
from inspector.supervisor import Supervisor


@contextmanager
def running_line(config: Config, workdir: Path, *, without: tuple[str, ...] = ()) -> Iterator[Supervisor]:
    """The line under a real supervisor (real processes), minus processes named in ``without``.

    Raises what stopped the supervisor early (a start refused), once the block ends."""
    config_file = workdir / "station.yaml"
    write_config(config, config_file)
    if config.security.curve:
        init_keys(Path(config.security.keys_dir))  # only the missing ones: a test or bench line is installed here
    supervisor = Supervisor(config, config_file, workdir / "logs")
    supervisor.processes = [p for p in supervisor.processes if not p.name.startswith(without)]
    done = threading.Event()
    def supervise() -> None:
        try:
            supervisor.run(until=done)
        except Exception:  # kept in supervisor.failed, raised below
            pass

    thread = threading.Thread(target=supervise, daemon=True)
    thread.start()
    try:
        yield supervisor
    finally:
        done.set()
        thread.join(60)
    if supervisor.failed is not None:
        raise supervisor.failed


def part_rows(config: Config) -> list[sqlite3.Row]:
    """Every decided part in the recorder's database, in part-id order (none while it does not exist yet)."""
    return parts.decided_rows(config.recorder.database)


def decided_count(config: Config) -> int:
    """How many parts the recorder has a decision for."""
    return parts.decided_count(config.recorder.database)


def alarm_rows(config: Config) -> list[sqlite3.Row]:
    """Every recorded alarm, oldest first."""
    return alarms.alarm_rows(config.recorder.database)


def parts_on_model(config: Config, model_version: str) -> int:
    """How many decided parts the model ``model_version`` (name@version) decided."""
    return parts.decided_on_model(config.recorder.database, model_version)
