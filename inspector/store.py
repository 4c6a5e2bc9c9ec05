"""The recorder's store: one SQLite row per part (sqlite-utils, WAL) and an image folder.

A part's row is built from two streams that may arrive in either order: the
actuator's decision (result, timings, PLC delivery) and the detector's
inspection record (the image of a reject or a sampled pass). Both upsert the
same row, keyed by camera and part id.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any, Iterable

import cv2
import numpy as np
import sqlite_utils

from inspector.errors import StoreError
from inspector.messages import Alarm, Decision, Verdict
from inspector.typed import to_dict

log = logging.getLogger(__name__)

PARTS_COLUMNS: dict[str, type] = {
    "camera": str,
    "part_id": int,
    "station": str,
    "result": str,
    "source": str,
    "verdict_result": str,
    "t_trigger": float,
    "t_verdict": float,
    "t_decided": float,
    "t_plc_written": float,
    "t_plc_sent": float,
    "latency_ms": float,
    "plc_delivered": int,
    "plc_error": str,
    "decision_seq": int,
    "model_version": str,
    "detections": str,
    "timings_ms": str,
    "reason": str,
    "frame_source": str,
    "image_path": str,
}
PARTS_PK = ("camera", "part_id")

ALARMS_COLUMNS: dict[str, type] = {
    "id": int,
    "t": float,
    "station": str,
    "source": str,
    "code": str,
    "severity": str,
    "text": str,
    "active": int,
    "part_id": int,
}


class Store:
    def __init__(self, database: str | Path, image_dir: str | Path) -> None:
        self.image_dir = Path(image_dir)
        try:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            self.image_dir.mkdir(parents=True, exist_ok=True)
            self.db = sqlite_utils.Database(sqlite3.connect(str(database), check_same_thread=False))
            self.db.enable_wal()
            for table, columns, pk, time_column in (("parts", PARTS_COLUMNS, PARTS_PK, "t_trigger"), ("alarms", ALARMS_COLUMNS, "id", "t")):
                if table not in self.db.table_names():
                    self.db[table].create(columns, pk=pk)
                    self.db[table].create_index([time_column])
                else:
                    self._add_missing_columns(table, columns)
        except (OSError, sqlite3.Error) as err:
            raise StoreError(f"cannot open the store at {database}: {err}") from err
        self.parts = self.db["parts"]

    def _add_missing_columns(self, table: str, columns: dict[str, type]) -> None:
        """A store written by an earlier version gets the columns added since (empty for its old rows)."""
        present = set(self.db[table].columns_dict)
        for name, kind in columns.items():
            if name not in present:
                log.info("store: adding column %s.%s", table, name)
                self.db[table].add_column(name, kind)

    def record(self, part_rows: Iterable[dict[str, Any]], alarms: Iterable[Alarm] = ()) -> None:
        """Upsert part rows and append alarms, in one transaction."""
        part_rows = list(part_rows)
        alarm_rows = [to_dict(a) for a in alarms]
        if not part_rows and not alarm_rows:
            return
        try:
            with self.db.conn:
                # sqlite-utils fills columns missing from some rows of a batch with NULL and
                # overwrites them; rows are therefore upserted in groups of the same columns.
                for group in _same_columns(part_rows):
                    self.parts.upsert_all(group, pk=PARTS_PK)
                if alarm_rows:
                    self.db["alarms"].insert_all(alarm_rows)
        except sqlite3.Error as err:
            raise StoreError(f"cannot write {len(part_rows)} part row(s) and {len(alarm_rows)} alarm(s): {err}") from err

    def save_image(self, verdict: Verdict, pixels: np.ndarray) -> str:
        """Write the part's image (PNG) and return its path."""
        folder = self.image_dir / verdict.camera / verdict.result.lower()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{verdict.part_id:010d}.png"
        if not cv2.imwrite(str(path), pixels):
            raise StoreError(f"cannot write image {path}")
        return str(path)

    def close(self) -> None:
        self.db.conn.close()


def _same_columns(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Rows grouped by their column sets, each group in arrival order."""
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(frozenset(row), []).append(row)
    return list(groups.values())


def decision_row(decision: Decision) -> dict[str, Any]:
    row = {
        "camera": decision.camera,
        "part_id": decision.part_id,
        "station": decision.station,
        "result": decision.result,
        "source": decision.source,
        "t_trigger": decision.t_trigger,
        "t_decided": decision.t_decided,
        "t_plc_written": decision.t_plc_written,
        "t_plc_sent": decision.t_plc_sent,
        "latency_ms": decision.latency_ms,
        "plc_delivered": int(decision.plc_delivered),
        "plc_error": decision.plc_error,
        "decision_seq": decision.seq,
    }
    if decision.verdict is not None:
        row.update(verdict_columns(decision.verdict))
    return row


def verdict_columns(verdict: Verdict) -> dict[str, Any]:
    return {
        "verdict_result": verdict.result,
        "t_verdict": verdict.t_verdict,
        "model_version": verdict.model_version,
        "detections": json.dumps(to_dict(verdict.detections)),
        "timings_ms": json.dumps(verdict.timings_ms),
        "reason": verdict.reason,
        "frame_source": verdict.source,
    }
