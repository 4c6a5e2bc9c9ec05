"""Run a supervised line in-process (tests, benchmarks) and read back what it recorded."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from inspector.config import write_config
from inspector.config.schema import Config
from inspector.line_keys import init_keys
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


def _query(config: Config, sql: str) -> list[sqlite3.Row]:
    """Rows of the recorder's database, read-only; none while it or the table does not exist yet."""
    db = Path(config.recorder.database)
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def part_rows(config: Config) -> list[sqlite3.Row]:
    """Every decided part in the recorder's database, in part-id order."""
    return _query(config, "SELECT * FROM parts WHERE result IS NOT NULL ORDER BY part_id")


def decided_count(config: Config) -> int:
    """How many parts the recorder has a decision for."""
    rows = _query(config, "SELECT count(*) AS n FROM parts WHERE result IS NOT NULL")
    return rows[0]["n"] if rows else 0


def alarm_rows(config: Config) -> list[sqlite3.Row]:
    """Every recorded alarm, oldest first."""
    return _query(config, "SELECT * FROM alarms ORDER BY id")


def parts_on_model(config: Config, model_version: str) -> int:
    """How many decided parts the model ``model_version`` (name@version) decided."""
    safe = model_version.replace("'", "''")
    rows = _query(config, f"SELECT count(*) AS n FROM parts WHERE result IS NOT NULL AND model_version = '{safe}'")
    return rows[0]["n"] if rows else 0
