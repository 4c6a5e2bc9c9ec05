"""Recorder service: decisions and reject images into SQLite and the image store.

Every few seconds the recorder reads the actuator's journal and records the
final decisions that never reached it (queued in a killed actuator, or
received by a recorder killed before writing them), with an alarm: across
any crash of either, every decided part has its one row.

Over months (:mod:`inspector.recorder`): it watches the free space of every
filesystem the station writes to (warning and critical alarms); retention
removes old images in small batches between batches of parts, more while the
images' disk is low, and none is stored while it is critical; rows the disk
refuses are held and retried, never a crash; a database found damaged while
running is moved aside and a fresh one refilled from the journal.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import zmq

from inspector.actuator.journal import final_decisions, part_list
from inspector.bounded import clip
from inspector.errors import MessageError, StoreCorruptError, StoreError
from inspector.messages import Alarm, Decision, Verdict, decode_json
from inspector.recorder.retention import ImageRetention
from inspector.recorder.space import DiskWatch
from inspector.recorder.writer import RecordWriter
from inspector.records.store import IMAGE_NOT_STORED, IMAGE_NOT_STORED_DISK, Refused, Store, decision_row, inspection_row
from inspector.service_logs import log_file
from inspector.services.base import Service
from inspector.services.detector import INSPECTION_KIND
from inspector.transport import GapCounter, frame_from_parts, recv_message

log = logging.getLogger(__name__)

MAX_BATCH = 500
DRAIN_BUDGET_S = 0.2  # longest a step reads messages: heartbeats keep flowing under a flood (of huge malformed ones)
RECONCILE_PERIOD_S = 5.0
RECONCILE_CHUNK = 2000  # decisions read from the journal at a time (a fresh database refills hours of them)
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
        rc = self.config.recorder
        self._reconcile_from: float | None = None  # where the journal's next chunk starts (None: from the last pass)
        self._refill_until: float | None = None  # a fresh database is refilled from the journal up to this time
        self._next_reconcile = 0.0  # at once: what the last run missed
        self._refusals = RefusalReport()
        self.writer = RecordWriter(rc, self.alarm, self.counters, self._fresh_database, self._refused)
        self.writer.open()
        self.space = DiskWatch(rc.disk_space, self._watched_folders(), self.alarm)
        self.space.check(time.monotonic(), force=True)
        self.retention = ImageRetention(rc.retention, self.space, lambda: self.writer.store, self.counters)
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

    def _watched_folders(self) -> dict[str, Path]:
        folders = {
            "database": Path(self.config.recorder.database).parent,
            "images": Path(self.config.recorder.image_dir),
            "state": Path(self.config.station.state_dir),
        }
        own_log = log_file()
        if own_log is not None:
            folders["logs"] = own_log.parent
        return folders

    def step(self, timeout_s: float) -> None:
        now = time.monotonic()
        self._report_refusals(self._refusals.due(now))
        self.space.check(now)
        self._guarded(lambda: self.retention.tick(now, time.time()))  # first: the room it frees lets held rows in
        self.writer.retry(now)
        if self.writer.available and now >= self._next_reconcile:
            more = self._guarded(self._reconcile)
            self._next_reconcile = now if more else now + RECONCILE_PERIOD_S
        if self.writer.full:  # as many rows wait as allowed: take no more until they are written
            self._stop.wait(timeout_s)
            return
        if not self.poller.poll(timeout_s * 1000):
            return
        rows, alarms = self._drain_decisions()
        rows += self._drain_inspections()
        self._write(rows, alarms)

    def _guarded(self, work):
        """Run a read or housekeeping step on the store: a damaged database is replaced, another error logged."""
        if self.writer.store is None:
            return None
        try:
            return work()
        except StoreCorruptError as err:
            self.writer.replace_damaged(err)
        except StoreError as err:
            self.counters["store_errors"] += 1
            log.error("%s", err)
        return None

    def _fresh_database(self, store: Store) -> None:
        """A fresh database replaced a damaged one: refill it from the beginning of what the journal keeps."""
        self._reconcile_from = None
        self._next_reconcile = 0.0
        self._refill_until = time.time()

    def _write(self, rows: list[dict], alarms: list[Alarm]) -> None:
        new_decisions = []
        if self.decision_metrics is not None:
            new_decisions = self._guarded(lambda: self._new_decisions(rows)) or []
        self.writer.write(rows, alarms)
        if self.decision_metrics is not None:
            for row in new_decisions:
                self.decision_metrics.observe_decision(row)
            for alarm in alarms:
                self.decision_metrics.observe_alarm(alarm)

    def _refused(self, refused: Refused) -> None:
        """Rows the store kept out (their part has one already): their new images removed, and an event."""
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
        known = self.writer.store.decided((r["camera"], r["part_id"]) for r in decisions)
        fresh, seen = [], set(known)
        for r in decisions:
            key = (r["camera"], r["part_id"])
            if key not in seen:
                seen.add(key)
                fresh.append(r)
        return fresh

    def _reconcile(self) -> bool:
        """Record the journal's final decisions that are missing here (see the module's doc), a chunk at a time;
        True when more wait."""
        store = self.writer.store
        until = time.time() - SETTLE_S
        if self._reconcile_from is None:
            self._reconcile_from = (store.state("reconciled_until") or 0.0) - RECONCILE_OVERLAP_S
        since = self._reconcile_from
        try:
            chunk = final_decisions(self.config.station.state_dir, since, until, RECONCILE_CHUNK)
            if len(chunk) == RECONCILE_CHUNK and chunk[-1][0] <= since:  # a whole chunk at one instant: read it all
                chunk = final_decisions(self.config.station.state_dir, since, until)
        except (StoreError, MessageError) as err:
            self.counters["reconcile_failed"] += 1
            log.error("cannot reconcile with the actuator's journal: %s", err)
            return False
        more = len(chunk) >= RECONCILE_CHUNK and chunk[-1][0] > since
        reached = chunk[-1][0] if more else until
        journaled = [d for _, d in chunk]
        recorded = store.decided((d.camera, d.part_id) for d in journaled)
        missing = [d for d in journaled if (d.camera, d.part_id) not in recorded]
        if missing and self._refill_until is not None:
            self.counters["decisions_refilled"] += len(missing)
        elif missing:
            self.alarm.event("decisions_recovered",
                             f"{len(missing)} decision(s) had not reached the recorder (a service stopped while they were on "
                             f"their way); recorded from the actuator's journal: parts {part_list(missing)}")
            self.counters["decisions_recovered"] += len(missing)
        self.writer.write([self._journal_row(store, d) for d in missing], [])
        if self.writer.held:
            return False  # not written yet: this stretch is read again once it is
        store.set_state("reconciled_until", reached)
        self._reconcile_from = reached if more else None
        if not more and self._refill_until is not None and until >= self._refill_until:
            self._refill_until = None
            log.warning("the fresh database holds the %d decision(s) the actuator's journal kept",
                        self.counters["decisions_refilled"])
        return more

    def _journal_row(self, store: Store, decision: Decision) -> dict[str, Any]:
        """A decision's row from the journal, with its image when the image is on disk (stored before a crash or
        before the database was replaced)."""
        row = decision_row(decision)
        if decision.verdict is not None:
            image = store.image_file(decision.camera, decision.verdict.result, decision.part_id)
            try:
                row.update(image_path=str(image), image_bytes=image.stat().st_size)
            except OSError:
                pass
        return row

    def _drain_decisions(self) -> tuple[list[dict], list[Alarm]]:
        """Decisions become part rows; alarms travel on the same ordered, lossless stream."""
        rows: list[dict] = []
        alarms: list[Alarm] = []
        until = time.monotonic() + DRAIN_BUDGET_S
        while len(rows) + len(alarms) < MAX_BATCH and time.monotonic() < until:
            try:
                message = recv_message(self.decisions, zmq.NOBLOCK)
            except zmq.Again:
                break
            except MessageError as err:
                self.counters["malformed_messages"] += 1
                log.error("malformed decision message: %s", clip(str(err)))
                continue
            if isinstance(message, Alarm):
                alarms.append(message)
                continue
            if not isinstance(message, Decision):
                self.counters["unexpected_messages"] += 1
                continue
            try:
                self.gaps.observe("actuator", message.seq)
                self.counters["decisions_missing"] = self.gaps.missing
                rows.append(decision_row(message))
            except Exception as err:  # noqa: BLE001 - the message boundary: the journal still holds the decision
                self.message_failed(f"the decision of part {message.part_id}", err)
        return rows, alarms

    def _drain_inspections(self) -> list[dict]:
        rows = []
        until = time.monotonic() + DRAIN_BUDGET_S
        while len(rows) < MAX_BATCH and time.monotonic() < until:
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
                log.error("malformed inspection record: %s", clip(str(err)))
                continue
            try:
                rows.append(self._inspection_row(verdict, pixels))
            except Exception as err:  # noqa: BLE001 - the message boundary: the part's decision is recorded without it
                self.message_failed(f"the inspection record of part {verdict.part_id}", err)
        return rows

    def _inspection_row(self, verdict: Verdict, pixels) -> dict[str, Any]:
        """The part's verdict and its stored image; the part's record matters more than its picture."""
        row = inspection_row(verdict)
        if self.space.level("images") == "critical" or self.writer.store is None:
            self.counters["images_not_stored"] += 1
            return {**row, "image_note": IMAGE_NOT_STORED_DISK}
        try:
            path = self.writer.store.save_image(verdict, pixels)
        except StoreError as err:  # recorded without one
            self.counters["images_failed"] += 1
            self._images_down(str(err))
            return {**row, "image_note": f"{IMAGE_NOT_STORED}: {clip(str(err), 160)}"}
        self._images_down("")
        self.counters["images_saved"] += 1
        try:
            size: int | None = Path(path).stat().st_size
        except OSError:
            size = None
        return {**row, "image_path": path, "image_bytes": size}

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
        if not hasattr(self, "writer"):
            return
        if self.set_up:  # after a setup that failed half way, nothing was taken in
            for _ in range(3):  # what is still queued on shutdown is written, not lost
                self.step(0.05)
        if self.writer.held:
            self.writer.flush()
        if self.writer.held:
            log.error("%d row(s) could not be written before stopping; the actuator's journal refills the decisions "
                      "at the next start", self.writer.held)
        if self.writer.store is not None:
            self.writer.store.close()
