"""The recorder's writes: part rows and alarms into the store, held and retried while they cannot be written.

A write the disk refuses (full, a size limit, an I/O error) does not stop
the recorder: the rows wait in memory, in order, up to ``recorder.held_rows``
(then the recorder stops taking more and the senders' queues and the
actuator's journal hold them), and are written at the first retry that
succeeds, with the critical ``record_write_failed`` alarm meanwhile. A
database found damaged at a write or a read (SQLite: "database disk image is
malformed", "file is not a database") is moved aside and a fresh one
started in its place (:mod:`inspector.records.fresh_database`), with the critical
``database_corrupt`` event; the recorder then refills it from the actuator's
journal.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from inspector.alarms.owner import AlarmOwner
from inspector.bounded import clip
from inspector.config.schema import RecorderConfig
from inspector.errors import StoreCorruptError, StoreError, StoreUnavailableError
from inspector.messages import Alarm
from inspector.records.fresh_database import carry_over
from inspector.records.store import Refused, Store, quarantine

log = logging.getLogger(__name__)

RETRY_S = 1.0
REPLACE_AGAIN_AFTER_S = 30.0  # a fresh file found damaged again this soon is held, not replaced again (a failing disk)


class RecordWriter:
    """Owns the recorder's :class:`Store`; ``on_fresh`` is told when a fresh database replaced a damaged one,
    ``on_refused`` of the rows the store refused (their part has one already)."""

    def __init__(self, config: RecorderConfig, alarm: AlarmOwner, counters: Counter[str],
                 on_fresh: Callable[[Store], None], on_refused: Callable[[Refused], None]) -> None:
        self.config = config
        self.alarm = alarm
        self.counters = counters
        self.on_fresh = on_fresh
        self.on_refused = on_refused
        self.store: Store | None = None
        self._rows: list[dict[str, Any]] = []
        self._alarms: list[Alarm] = []
        self._next_retry = 0.0
        self._replaced_at = -REPLACE_AGAIN_AFTER_S
        self._failing = ""

    # -- opening ---------------------------------------------------------------------
    def open(self) -> None:
        """Open the store at start. A disk that refuses the first writes is waited for (retried, with the alarm);
        any other error (a path that cannot be made, no permission) stops the start, naming it."""
        try:
            self.store = Store(self.config.database, self.config.image_dir)
        except StoreUnavailableError as err:
            self._failed(err)
            return
        if self.store.quarantined is not None:
            self._fresh(self.store, self.store.quarantined, "was found damaged when opened")

    def _try_open(self) -> bool:
        if self.store is not None:
            return True
        try:
            self.store = Store(self.config.database, self.config.image_dir)
        except StoreError as err:  # a damaged file is quarantined by Store itself; the rest waits for room
            self._failed(err)
            return False
        if self.store.quarantined is not None:
            self._fresh(self.store, self.store.quarantined, "was found damaged when opened")
        return True

    # -- writing ---------------------------------------------------------------------
    @property
    def held(self) -> int:
        return len(self._rows) + len(self._alarms)

    @property
    def full(self) -> bool:
        """As many rows wait as ``held_rows`` allows: take no more until they are written."""
        return self.held >= self.config.held_rows

    @property
    def available(self) -> bool:
        """The store is open and nothing waits: reads and the journal's refill can go ahead."""
        return self.store is not None and not self.held

    def write(self, rows: list[dict[str, Any]], alarms: list[Alarm]) -> None:
        """Write (after what already waits); refused rows go to ``on_refused``."""
        self._rows += rows
        self._alarms += alarms
        if not self.held:
            return
        if self._failing and time.monotonic() < self._next_retry:
            return
        self.flush()

    def retry(self, now: float) -> None:
        """Try again what waits, when due."""
        if self._failing and now >= self._next_retry:
            self.flush()

    def flush(self) -> None:
        if not self._try_open():
            return
        rows, alarms = self._rows, self._alarms
        try:
            refused = self.store.record(rows, alarms)
        except StoreCorruptError as err:
            if self.replace_damaged(err):
                self.flush()
            return
        except StoreUnavailableError as err:
            self._failed(err)
            return
        except StoreError as err:  # something in the rows: write them one by one, so one bad row stops no other
            log.error("%s; writing the batch row by row", err)
            self._one_by_one()
            return
        self._written(rows, alarms, refused)

    def _written(self, rows: list[dict[str, Any]], alarms: list[Alarm], refused: Refused) -> None:
        self._rows, self._alarms = self._rows[len(rows):], self._alarms[len(alarms):]
        self.counters["decisions_refused"] += len(refused.decisions)
        self.counters["inspections_refused"] += len(refused.inspections)
        self.counters["rows_written"] += len(rows) - len(refused)
        self.counters["alarms_written"] += len(alarms)
        if refused:
            self.on_refused(refused)
        if self._failing:
            self._failing = ""
            self.alarm.clear("record_write_failed", f"records are written again ({len(rows)} held row(s) written)")

    def _one_by_one(self) -> None:
        """Write what waits a row (an alarm) at a time; one the store refuses is logged and dropped (a decision among
        them is still in the actuator's journal)."""
        while self._rows or self._alarms:
            rows, alarms = (self._rows[:1], []) if self._rows else ([], self._alarms[:1])
            try:
                n = self.store.record(rows, alarms)
            except (StoreUnavailableError, StoreCorruptError) as err:  # the file or the disk, not the row: as any write
                if isinstance(err, StoreCorruptError) and self.replace_damaged(err):
                    continue
                self._failed(err)
                break
            except StoreError as err:
                self.counters["rows_unwritable"] += 1
                log.error("a row the database refuses is dropped: %s: %s", clip(str(err), 300), clip(rows or alarms, 300))
                self._rows, self._alarms = self._rows[len(rows):], self._alarms[len(alarms):]
                continue
            self._written(rows, alarms, n)

    def _failed(self, err: StoreError) -> None:
        self._next_retry = time.monotonic() + RETRY_S
        if not self._failing:
            self._failing = str(err)
            log.error("records cannot be written, held and retried: %s", err)
            self.alarm.raise_(
                "record_write_failed",
                f"records cannot be written to {self.config.database} ({clip(str(err), 200)}); they are held in memory "
                f"(up to {self.config.held_rows} rows) and written once there is room; the actuator's journal keeps "
                "every decision",
            )
        self.counters["write_retries"] += 1

    # -- a damaged database -------------------------------------------------------------
    def replace_damaged(self, err: StoreCorruptError) -> bool:
        """Move the damaged database aside and start a fresh one; False when that cannot be done now."""
        if time.monotonic() - self._replaced_at < REPLACE_AGAIN_AFTER_S:
            self._failed(err)  # damaged again at once: the disk itself fails; hold, and say so
            return False
        self._replaced_at = time.monotonic()
        old = self.store
        if old is not None:
            try:
                old.close()
            except Exception as close_err:  # noqa: BLE001 - a damaged file may fail to close; it is moved aside anyway
                log.warning("closing the damaged database: %s", close_err)
        self.store = None
        try:
            moved = quarantine(self.config_path)
        except OSError as move_err:
            log.error("cannot move the damaged database %s aside: %s", self.config_path, move_err)
            self._failed(err)
            return False
        log.error("database damaged while running (%s): moved to %s, starting a fresh one", err, moved)
        if not self._try_open():
            return False
        self._fresh(self.store, moved, f"was found damaged while running ({clip(str(err.__cause__ or err), 80)})")
        return True

    @property
    def config_path(self) -> Path:
        return Path(self.config.database)

    def _fresh(self, store: Store, moved: Path, how: str) -> None:
        copied, left = carry_over(moved, store)
        self.counters["databases_replaced"] += 1
        kept = f"; other tables carried over: {', '.join(copied)}" if copied else ""
        lost = f"; left behind: {', '.join(left)}" if left else ""
        self.alarm.event(
            "database_corrupt",
            f"the database {how}: moved to {moved}; a fresh one started{kept}{lost}; the actuator's journal refills "
            "its decisions",
        )
        self.on_fresh(store)
