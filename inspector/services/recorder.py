"""Recorder service: decisions and reject images into SQLite and the image store.

Every few seconds the recorder reads the actuator's journal and records the
final decisions that never reached it (queued in a killed actuator, or
received by a recorder killed before writing them), with an alarm: across
any crash of either, every decided part has its one row.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import zmq

from inspector.actuator.journal import part_list, unrecorded_decisions

from inspector.errors import MessageError, StoreError
from inspector.messages import Alarm, Decision, Verdict, decode_json
from inspector.services.base import Service
from inspector.services.detector import INSPECTION_KIND
from inspector.store import Refused, Store, decision_row, inspection_row
from inspector.transport import GapCounter, frame_from_parts, recv_message

log = logging.getLogger(__name__)

MAX_BATCH = 500
RECONCILE_PERIOD_S = 5.0
SETTLE_S = 5.0  # a decision younger than this may still be on its way: not reconciled yet
RECONCILE_OVERLAP_S = 60.0  # each pass rereads this much before the last one reached


class RefusalReport:
    """Refused rows, for the ``decision_refused`` event: the first at once, then at most one report per period."""

    def __init__(self, period_s: float = 10.0) -> None:
        self.period_s = period_s
        self._next_report = 0.0
        self._decisions: list[tuple[str, int]] = []
        self._inspections: list[tuple[str, int]] = []

    def observe(self, refused: Refused, now: float) -> str:
        """Note refused rows; the report to make now, if one is due ('' otherwise)."""
        self._decisions += [(r["camera"], r["part_id"]) for r in refused.decisions]
        self._inspections += [(r["camera"], r["part_id"]) for r in refused.inspections]
        return self.due(now)

    def due(self, now: float) -> str:
        """The report of the refusals noted since the last one, once the period has passed ('' otherwise)."""
        if now < self._next_report or not (self._decisions or self._inspections):
            return ""
        self._next_report = now + self.period_s
        decisions, inspections, self._decisions, self._inspections = self._decisions, self._inspections, [], []
        parts = sorted(set(decisions + inspections))
        listed = ", ".join(f"{camera}:{part_id}" for camera, part_id in parts[:10])
        more = f" (+{len(parts) - 10} more)" if len(parts) > 10 else ""
        return (f"{len(decisions)} decision(s) and {len(inspections)} inspection record(s) refused: their part already "
                f"has one (or the row is another part's); the first is kept, nothing overwritten: parts {listed}{more}")


class RecorderService(Service):
    kind = "recorder"

    def setup(self) -> None:
        self.store = Store(self.config.recorder.database, self.config.recorder.image_dir)
        if self.store.quarantined is not None:
            self.alarm.event("database_corrupt",
                             f"the database {self.config.recorder.database} was corrupt: moved to {self.store.quarantined}, "
                             "a new one started; the decisions still in the actuator's journal are recorded again")
        self._images_failing = False
        self.decision_metrics = None
        if self.metrics_registry is not None:
            from inspector.plant.metrics import DecisionMetrics

            self.decision_metrics = DecisionMetrics(self.metrics_registry, self.config.station.name)
        self.decisions = self.sockets.open("decisions")
        self.inspections = self.sockets.open("inspections")
        self.poller = zmq.Poller()
        self.poller.register(self.decisions, zmq.POLLIN)
        self.poller.register(self.inspections, zmq.POLLIN)
        self.gaps = GapCounter()
        self._refusals = RefusalReport()
        self._next_reconcile = 0.0  # at once: what the last run missed

    def step(self, timeout_s: float) -> None:
        self._report_refusals(self._refusals.due(time.monotonic()))
        if time.monotonic() >= self._next_reconcile:
            self._reconcile()
            self._next_reconcile = time.monotonic() + RECONCILE_PERIOD_S
        if not self.poller.poll(timeout_s * 1000):
            return
        rows, alarms = self._drain_decisions()
        rows += self._drain_inspections()
        self._write(rows, alarms)

    def _write(self, rows: list[dict], alarms: list[Alarm]) -> None:
        new_decisions = self._new_decisions(rows) if self.decision_metrics is not None else []
        try:
            refused = self.store.record(rows, alarms)
        except StoreError:
            self.counters["rows_failed"] += len(rows)
            log.exception("store write failed")
            raise  # let the supervisor restart the recorder: the database needs attention
        if refused:
            self._refused(refused)
        self.counters["rows_written"] += len(rows) - len(refused)
        self.counters["alarms_written"] += len(alarms)
        if self.decision_metrics is not None:
            for row in new_decisions:
                self.decision_metrics.observe_decision(row)
            for alarm in alarms:
                self.decision_metrics.observe_alarm(alarm)

    def _refused(self, refused: Refused) -> None:
        """Rows the store kept out (their part has one already): counted, their new images removed, and an event."""
        self.counters["decisions_refused"] += len(refused.decisions)
        self.counters["inspections_refused"] += len(refused.inspections)
        for row in refused.inspections:
            if row.get("image_path"):
                Path(row["image_path"]).unlink(missing_ok=True)  # written for this record alone, under a new name
        self._report_refusals(self._refusals.observe(refused, time.monotonic()))

    def _report_refusals(self, report: str) -> None:
        if report:
            self.alarm.event("decision_refused", report)

    def _new_decisions(self, rows: list[dict]) -> list[dict]:
        """The decision rows whose part has none recorded yet (the ones the store will write, for the metrics)."""
        decisions = [r for r in rows if "result" in r]
        if not decisions:
            return []
        try:
            known = self.store.decided((r["camera"], r["part_id"]) for r in decisions)
        except StoreError:
            return []  # the write below fails the same way and says why
        fresh, seen = [], set(known)
        for r in decisions:
            key = (r["camera"], r["part_id"])
            if key not in seen:
                seen.add(key)
                fresh.append(r)
        return fresh

    def _reconcile(self) -> None:
        """Record the journal's final decisions that are missing here (see the module's doc)."""
        until = time.time() - SETTLE_S
        since = (self.store.state("reconciled_until") or 0.0) - RECONCILE_OVERLAP_S
        try:
            journaled = unrecorded_decisions(self.config.station.state_dir, since, until)
        except (StoreError, MessageError) as err:
            self.counters["reconcile_failed"] += 1
            log.error("cannot reconcile with the actuator's journal: %s", err)
            return
        recorded = self.store.decided((d.camera, d.part_id) for d in journaled)
        missing = [d for d in journaled if (d.camera, d.part_id) not in recorded]
        if missing:
            self.alarm.event("decisions_recovered",
                             f"{len(missing)} decision(s) had not reached the recorder (a service stopped while they were on "
                             f"their way); recorded from the actuator's journal: parts {part_list(missing)}")
            self.counters["decisions_recovered"] += len(missing)
        self._write([decision_row(d) for d in missing], [])
        self.store.set_state("reconciled_until", until)

    def _drain_decisions(self) -> tuple[list[dict], list[Alarm]]:
        """Decisions become part rows; alarms travel on the same ordered, lossless stream."""
        rows: list[dict] = []
        alarms: list[Alarm] = []
        while len(rows) + len(alarms) < MAX_BATCH:
            try:
                message = recv_message(self.decisions, zmq.NOBLOCK)
            except zmq.Again:
                break
            except MessageError as err:
                self.counters["malformed_messages"] += 1
                log.error("malformed decision message: %s", err)
                continue
            if isinstance(message, Alarm):
                alarms.append(message)
                continue
            if not isinstance(message, Decision):
                self.counters["unexpected_messages"] += 1
                continue
            self.gaps.observe("actuator", message.seq)
            self.counters["decisions_missing"] = self.gaps.missing
            rows.append(decision_row(message))
        return rows, alarms

    def _drain_inspections(self) -> list[dict]:
        rows = []
        while len(rows) < MAX_BATCH:
            try:
                parts = self.inspections.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            try:
                if len(parts) != 4 or parts[0].bytes != INSPECTION_KIND:
                    raise MessageError(f"expected an inspection record of 4 parts, got {len(parts)}")
                verdict = decode_json(Verdict, parts[1].buffer)
                _, pixels = frame_from_parts(parts[2], parts[3])
            except MessageError as err:
                self.counters["malformed_messages"] += 1
                log.error("malformed inspection record: %s", err)
                continue
            try:
                path = self.store.save_image(verdict, pixels)
            except StoreError as err:  # the part's record matters more than its picture: record it without one
                self.counters["images_failed"] += 1
                self._images_down(str(err))
                rows.append(inspection_row(verdict))
                continue
            self._images_down("")
            self.counters["images_saved"] += 1
            rows.append(inspection_row(verdict, path))
        return rows

    def _images_down(self, error: str) -> None:
        """An alarm when images start failing to be stored, and its clearing when one is stored again."""
        if bool(error) == self._images_failing:
            return
        self._images_failing = bool(error)
        if error:
            self.alarm.raise_("image_store_failed", f"part images cannot be stored ({error}); parts are recorded without them")
        else:
            self.alarm.clear("image_store_failed", "part images are stored again")

    def teardown(self) -> None:
        if hasattr(self, "store"):
            for _ in range(3):  # what is still queued on shutdown is written, not lost
                self.step(0.05)
            self.store.close()
