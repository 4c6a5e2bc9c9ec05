"""Everything one HMI needs, built from the station config (no Qt here)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from calibration.station import calibration_paths, open_audit_trail
from hmi.alarm_vm import AlarmBoardView
from hmi.drift_vm import DriftViewModel
from hmi.live import EventFeed
from hmi.model_vm import ModelViewModel
from hmi.operator_vm import OperatorViewModel
from hmi.reports_vm import ReportsViewModel
from hmi.review_vm import ReviewViewModel
from hmi.users import PBKDF2_ITERATIONS, Session, UserDirectory, ensure_demo_users
from inspector.audit import AuditTrail
from inspector.config.schema import Config
from inspector.engine.model_package import load_model_package
from inspector.modelops.triage import uncertain_parts
from inspector.records.station import StationDatabase

log = logging.getLogger(__name__)


def audit_database(config: Config) -> Path:
    """The station's one audit trail, shared with calibration and verification (``calibration.audit_database``)."""
    return calibration_paths(config).audit_database


def datasets_dir(config: Config) -> Path:
    """Where reviewed dataset versions are exported: ``datasets/`` beside the recorder's database."""
    return Path(config.recorder.database).with_name("datasets")


@dataclass
class HmiContext:
    station: str
    db: StationDatabase
    audit: AuditTrail
    users: UserDirectory
    session: Session
    operator: OperatorViewModel
    review: ReviewViewModel
    feed: EventFeed | None
    models: ModelViewModel | None = None
    drift: DriftViewModel | None = None
    reports: ReportsViewModel | None = None

    def close(self) -> None:
        if self.feed is not None:
            self.feed.close()
        self.db.close()
        self.audit.close()


def open_hmi(config: Config, *, live: bool = True, idle_timeout_s: float = 300.0, demo_users: bool = False,
             shift_start_t: float | None = None, pbkdf2_iterations: int = PBKDF2_ITERATIONS) -> HmiContext:
    """Open the database and audit trail, and (``live``) subscribe to the line's events."""
    db = StationDatabase(config.recorder.database)
    audit = open_audit_trail(config)
    users = UserDirectory(db, audit, iterations=pbkdf2_iterations)
    if demo_users and ensure_demo_users(users, audit):
        log.warning("created the demo users (operator 1111, quality 2222, admin 3333): never on a real station")
    session = Session(users, audit, idle_timeout_s=idle_timeout_s)
    # the classes a reviewer may label: every model's (an anomaly model adds 'anomaly'), in model order
    models = [config.detector.model, *(m.model for m in config.detector.additional_models)]
    classes = list(dict.fromkeys(c for path in models for c in load_model_package(path).metadata.classes))
    feed = EventFeed(config) if live else None
    alarms = AlarmBoardView(config.station.name, config.station.state_dir, session, audit,
                            feed.send_command if feed is not None else None)
    operator = OperatorViewModel(db, session, audit, alarms, budget_ms=config.actuator.budget_ms,
                                 shift_start_t=shift_start_t, live=live)
    review = ReviewViewModel(db, session, audit, classes, datasets_dir(config), triage=lambda: uncertain_parts(config))
    return HmiContext(config.station.name, db, audit, users, session, operator, review, feed,
                      ModelViewModel(config, session, users, audit), DriftViewModel(config, db, session),
                      ReportsViewModel(config, session, audit, classes))
