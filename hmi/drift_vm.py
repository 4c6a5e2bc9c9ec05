"""The drift screen's state, free of Qt: per camera the drift measures over time against their limits,
and the drift alarms active now.

The series is what the detector writes to ``drift.db``
(:mod:`inspector.modelops.drift_series`); the alarms are the recorder's
``alarms`` rows with a ``drift_*`` code, the latest row of each code and
camera deciding whether it is active.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hmi.observable import Observable
from hmi.roles import Permission
from hmi.users import Session
from inspector.config.schema import Config
from inspector.errors import InspectorError
from inspector.records.alarms import AlarmRecord
from inspector.records.station import StationDatabase
from inspector.modelops.drift_series import (
    DriftPoint,
    drift_limits,
    drift_series_path,
    read_drift_series,
)

#: what each measure is called on the screen, and its unit
MEASURE_TITLES = {
    "brightness": "brightness shift (grey levels)",
    "contrast": "contrast change (share)",
    "scores": "score PSI",
    "reject_rate": "reject-rate change (share)",
    "latency": "time per part increase (share)",
}
SHOWN = ("brightness", "contrast", "scores", "reject_rate")
_CAMERA = re.compile(r"^camera (\S+?):")


@dataclass(frozen=True)
class Trend:
    camera: str
    measure: str
    limit: float
    points: list[tuple[float, float]]  # (t, value), oldest first

    @property
    def latest(self) -> float | None:
        return self.points[-1][1] if self.points else None

    @property
    def over_limit(self) -> bool:
        return self.latest is not None and self.latest > self.limit


class DriftViewModel(Observable):
    def __init__(self, config: Config, db: StationDatabase, session: Session) -> None:
        super().__init__()
        self.config = config
        self.db = db
        self.session = session
        self.limits = drift_limits(config.drift)
        self.trends: dict[str, list[Trend]] = {}  # camera -> one trend per shown measure
        self.active_alarms: list[AlarmRecord] = []
        self.problem = ""

    def load(self, since: float | None = None) -> None:
        self.session.require(Permission.VIEW_QUALITY)
        try:
            series = read_drift_series(drift_series_path(self.config), since)
            self.problem = "" if series else (
                "no drift series yet: the detector writes one every "
                f"{self.config.drift.series_every_parts} parts once {self.config.drift.reference_parts} reference and "
                f"{self.config.drift.window_parts} window parts are seen" if self.config.drift.series_every_parts
                else "the detector keeps no drift series (drift.series_every_parts is 0)")
        except InspectorError as err:
            series, self.problem = {}, str(err)
        self.trends = {camera: [self._trend(camera, m, points) for m in SHOWN] for camera, points in series.items()}
        self.active_alarms = self._active()
        self._notify()

    def _trend(self, camera: str, measure: str, points: list[DriftPoint]) -> Trend:
        values = [(p.t, p.values[measure]) for p in points if p.values.get(measure) is not None]
        return Trend(camera, measure, self.limits[measure], values)

    def _active(self) -> list[AlarmRecord]:
        latest: dict[tuple[str, str], AlarmRecord] = {}
        for alarm in self.db.alarms_with_prefix("drift_"):
            match = _CAMERA.match(alarm.text)
            latest[(alarm.code, match.group(1) if match else "")] = alarm
        return sorted((a for a in latest.values() if a.active), key=lambda a: a.t, reverse=True)

