"""Fixtures of the HMI tests: a real recorder store and audit trail in tmp_path, users with PINs."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from hmi.users import Session, UserDirectory, add_user
from inspector.audit import AuditTrail
from inspector.messages import Decision, Detection, Verdict
from inspector.records.station import StationDatabase
from inspector.records.store import Store, decision_row, verdict_columns

CLASSES = ["scratch", "dent", "crack", "stain", "missing_hole"]
PINS = {"olga": ("operator", "1111"), "quinn": ("quality", "2222"), "ada": ("admin", "3333")}


def a_decision(part_id: int, result: str = "REJECT", *, t_trigger: float | None = None, camera: str = "top",
               detections: list[Detection] | None = None, latency_ms: float = 40.0, plc_delivered: bool = True) -> Decision:
    """A decision as the actuator publishes it (REJECT with a scratch by default)."""
    t = time.time() if t_trigger is None else t_trigger
    failsafe = result.startswith("FAILSAFE")
    if detections is None:
        detections = [Detection("scratch", 0.9, (100.0, 120.0, 180.0, 160.0), 3200.0, True)] if result == "REJECT" else []
    verdict = None if failsafe else Verdict(
        "station-1", camera, part_id, part_id, "REJECT" if result == "REJECT" else "PASS", t, t + 0.02, "m-test",
        detections, {"inference": 10.0}, "", f"synthetic:index={part_id}",
    )
    return Decision(
        "station-1", camera, part_id, part_id, result, "deadline" if failsafe else "verdict", t, t + latency_ms / 1000 - 0.001,
        plc_delivered, t + latency_ms / 1000 if plc_delivered else None, "" if plc_delivered else "PLC unreachable", verdict,
    )


class Line:
    """Writes parts the way the recorder does: the real Store, decision rows and images."""

    def __init__(self, root: Path) -> None:
        self.database = root / "line" / "inspector.db"
        self.store = Store(self.database, root / "line" / "images")

    def record(self, decision: Decision, image: bool | None = None) -> None:
        rows = [decision_row(decision)]
        if image if image is not None else decision.result in ("REJECT", "FAILSAFE_REJECT"):
            pixels = np.full((240, 320), 90, np.uint8)
            pixels[120:160, 100:180] = 200
            verdict = decision.verdict or Verdict("station-1", decision.camera, decision.part_id, decision.seq, "FAILSAFE",
                                                  decision.t_trigger, decision.t_decided, "", [])
            path = self.store.save_image(verdict, pixels)
            rows.append({"camera": decision.camera, "part_id": decision.part_id, "image_path": path, **verdict_columns(verdict)}
                        if decision.verdict else {"camera": decision.camera, "part_id": decision.part_id, "image_path": path})
        self.store.record(rows)


@pytest.fixture
def line(tmp_path) -> Line:
    line = Line(tmp_path)
    yield line
    line.store.close()


@pytest.fixture
def db(line) -> StationDatabase:
    database = StationDatabase(line.database)
    yield database
    database.close()


@pytest.fixture
def audit(tmp_path) -> AuditTrail:
    trail = AuditTrail(tmp_path / "line" / "audit.db")
    yield trail
    trail.close()


@pytest.fixture
def users(db, audit) -> UserDirectory:
    directory = UserDirectory(db, audit, iterations=2_000)  # fewer rounds than a station's, to keep tests quick
    for name, (role, pin) in PINS.items():
        add_user(directory, audit, name, role, pin, by="test")
    return directory


@pytest.fixture
def session(users, audit) -> Session:
    return Session(users, audit, idle_timeout_s=300)


def login(session: Session, name: str) -> None:
    session.login(name, PINS[name][1])


def parts_flowing(line, per_s: int, first_id: int):
    """A QTimer recording a part every 1/per_s s, every other one a reject, after 8 parts at once; started."""
    from itertools import count

    from PySide6.QtCore import QTimer

    ids = count(first_id)

    def one_part() -> None:
        part_id = next(ids)
        line.record(a_decision(part_id, "REJECT" if part_id % 2 else "PASS"))

    timer = QTimer(interval=1000 // per_s, timeout=one_part)
    for _ in range(8):
        one_part()
    timer.start()
    return timer
