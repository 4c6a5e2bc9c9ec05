"""Recorder service: decisions and reject images into SQLite and the image store.

Every few seconds the recorder reads the actuator's journal and records the
final decisions that never reached it (queued in a killed actuator, or
received by a recorder killed before writing them), with an alarm: across
any crash of either, every decided part has its one row.
"""

from __future__ import annotations

import logging
import time

import zmq

from inspector.actuator.journal import part_list, unrecorded_decisions

from inspector.errors import MessageError, StoreError
from inspector.messages import Alarm, Decision, Verdict, decode_json
from inspector.services.base import Service
from inspector.services.detector import INSPECTION_KIND
from inspector.store import Store, decision_row, verdict_columns
from inspector.transport import GapCounter, frame_from_parts, recv_message

log = logging.getLogger(__name__)

MAX_BATCH = 500
RECONCILE_PERIOD_S = 5.0
SETTLE_S = 5.0  # a decision younger than this may still be on its way: not reconciled yet
RECONCILE_OVERLAP_S = 60.0  # each pass rereads this much before the last one reached


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
        self._next_reconcile = 0.0  # at once: what the last run missed

    def step(self, timeout_s: float) -> None:
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
        self.counters["decisions_refused"] += refused
        self.counters["rows_written"] += len(rows) - refused
        self.counters["alarms_written"] += len(alarms)
        if self.decision_metrics is not None:
            for row in new_decisions:
                self.decision_metrics.observe_decision(row)
            for alarm in alarms:
                self.decision_metrics.observe_alarm(alarm)

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
                rows.append({"camera": verdict.camera, "part_id": verdict.part_id, **verdict_columns(verdict)})
                continue
            self._images_down("")
            self.counters["images_saved"] += 1
            rows.append({"camera": verdict.camera, "part_id": verdict.part_id, "image_path": path, **verdict_columns(verdict)})
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
