"""Shift-end reports: write each configured shift's report shortly after the shift ends.

``inspector report scheduler --config station.yaml`` runs this loop alone;
``inspector run`` starts it as a supervised process when ``reports.at_shift_end``
is on. The last shift reported is kept in ``station.state_dir/reports-last-shift``,
so a restart neither repeats a report nor misses one (shifts that ended while it
was stopped are caught up, up to a week back).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path

from inspector.config.schema import Config
from inspector.errors import InspectorError
from inspector.reports.library import generate
from inspector.reports.shifts import Period, shifts_ending_between

log = logging.getLogger(__name__)

SETTLE_S = 30.0  # after a shift's end, so its last parts are recorded
CATCH_UP_S = 7 * 86400


class ShiftReportScheduler:
    def __init__(self, config: Config, settle_s: float = SETTLE_S) -> None:
        self.config = config
        self.settle_s = settle_s
        self.marker = Path(config.station.state_dir) / "reports-last-shift"
        self.stop_event = threading.Event()

    def last_done(self, now: float) -> float:
        try:
            return float(self.marker.read_text().strip())
        except (OSError, ValueError):
            return now - self.settle_s  # first start: from now on
    
    def due(self, now: float) -> list[Period]:
        """Shifts that ended (and settled) since the last one reported."""
        since = max(self.last_done(now), now - CATCH_UP_S)
        return shifts_ending_between(since, now - self.settle_s, self.config.reports)

    def run_due(self, now: float | None = None) -> list[Period]:
        now = time.time() if now is None else now
        done = []
        for period in self.due(now):
            try:
                entry, _ = generate([Path(self.config.recorder.database)], period, self.config.reports)
                log.info("shift report %s written (%s)", period.label, entry.pdf)
            except InspectorError as err:  # one bad report does not stop the next ones
                log.error("shift report %s not written: %s", period.label, err)
            self.marker.parent.mkdir(parents=True, exist_ok=True)
            self.marker.write_text(repr(period.end))
            done.append(period)
        return done

    def run(self, poll_s: float = 20.0) -> None:
        log.info("shift reports: writing each shift's report %0.fs after it ends into %s", self.settle_s, self.config.reports.folder)
        while not self.stop_event.is_set():
            self.run_due()
            self.stop_event.wait(poll_s)


def run_scheduler(config: Config) -> None:
    scheduler = ShiftReportScheduler(config)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: scheduler.stop_event.set())
    scheduler.run()
