"""The detector's side of a shadow run: a worker thread that judges frames with the candidate on spare capacity.

The detector polls the order between parts and offers each frame after its
verdict was sent; a busy worker skips the frame and counts it, so production
never waits for the shadow (see :mod:`inspector.modelops.shadow`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Callable

import numpy as np

from inspector.config.schema import Config
from inspector.engine.decision_rules import Judgement
from inspector.errors import InspectorError
from inspector.messages import FrameHeader
from inspector.modelops.registry import ModelRegistry, slot_names
from inspector.modelops.shadow.order import ShadowOrder, order_path, read_order, run_folder
from inspector.modelops.shadow.record import ShadowRecord, shadow_summary
from inspector.modelops.shadow.report import REPORT_MD, finished, shadow_report, write_report

log = logging.getLogger(__name__)

Alarm = Callable[[str, str, str], None]


def _reason(judgement: Judgement) -> str:
    classes = sorted({d.cls for d in judgement.detections if d.causes_reject})
    return f"{judgement.model}: {', '.join(classes)}" if judgement.rejected else ""


class ShadowRunner:
    """In the detector: follows the shadow order and runs the candidate on spare capacity (see the module's description)."""

    def __init__(self, config: Config, alarm: Alarm) -> None:
        self.config = config
        self.alarm = alarm
        self.registry = ModelRegistry(config)
        self.order: ShadowOrder | None = None
        self.offered = self.skipped = 0
        self.skipped_total = 0  # frames skipped since the detector started (``skipped``: not yet recorded)
        self._next_check = 0.0
        self._stamp: tuple[int, int] | None = None
        self._mailbox: tuple | None = None
        self._wake = threading.Condition()
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()
        self._busy = False
        self._order_problem = ""
        self._alarms: list[tuple[str, str, str]] = []  # raised by the worker, sent by the detector's own thread

    @property
    def active(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    def _raise(self, code: str, severity: str, text: str) -> None:
        with self._wake:
            self._alarms.append((code, severity, text))

    def poll(self, now: float) -> None:
        """Between parts: send the worker's alarms (sockets belong to this thread); start or stop the worker when the order changed."""
        if self._alarms:
            with self._wake:
                pending, self._alarms = self._alarms, []
            for alarm in pending:
                self.alarm(*alarm)
        if now < self._next_check:
            return
        self._next_check = now + self.config.models.check_interval_s
        path = order_path(self.registry)
        try:
            info = path.stat()
            stamp = (info.st_mtime_ns, info.st_size)
        except OSError:
            stamp = None
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            order = read_order(self.registry) if stamp is not None else None
        except InspectorError as err:
            if str(err) != self._order_problem:
                self._order_problem = str(err)
                self.alarm("model_shadow", "warning", f"{err}; no shadow run")
            order = None
        if order == self.order and self.active:
            return
        self._stop_worker()
        self.order = order
        if order is not None and not finished(run_folder(self.registry, order.run)):
            self._start_worker(order)

    def offer(self, header: FrameHeader, frame: np.ndarray, judgements: list[Judgement], *, production_waiting: bool = False) -> None:
        """After production's verdict was sent: hand the frame to the shadow, or skip it (and count) if it is busy.

        ``production_waiting``: the next frame is already queued for production. The shadow then skips this one:
        its worker, though at nice 19, holds the GIL in its pre- and post-processing, and on a busy CPU a
        low-priority thread holding the GIL delays production (priority inversion).
        """
        if not self.active:
            return
        self.offered += 1
        with self._wake:
            if production_waiting or self._busy or self._mailbox is not None:
                self.skipped += 1
                self.skipped_total += 1
                return
            self._mailbox = (header, frame, judgements)
            self._wake.notify()

    def _start_worker(self, order: ShadowOrder) -> None:
        self._stop.clear()
        self._mailbox, self._busy = None, False
        self._worker = threading.Thread(target=self._work, args=(order,), name="shadow", daemon=True)
        self._worker.start()

    def _stop_worker(self) -> None:
        if self._worker is not None:
            self._stop.set()
            with self._wake:
                self._wake.notify()
            self._worker.join(30)
            self._worker = None

    def _work(self, order: ShadowOrder) -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)  # this thread, and the runtime's threads it starts
        except OSError as err:
            log.warning("shadow: cannot lower its priority: %s", err)
        from inspector.engine.detector import DefectDetector
        from inspector.modelops.gate import slot_detector_config

        slot = slot_names(self.config).index(order.slot)
        record = ShadowRecord(run_folder(self.registry, order.run))
        engine = None
        try:
            self.registry.check(order.candidate)
            label = self.registry.package(order.candidate).label
            detector = dataclasses.replace(slot_detector_config(self.config, order.slot, self.registry.onnx_path(order.candidate)),
                                           intra_op_threads=1, intra_op_spinning=False)
            engine = DefectDetector(detector)
            log.info("shadow run %s: %s beside production for %d parts", order.run, label, order.parts)
            while not self._stop.is_set():
                with self._wake:
                    while self._mailbox is None and not self._stop.is_set():
                        self._wake.wait(0.5)
                    if self._stop.is_set():
                        break
                    (header, frame, judgements), self._mailbox = self._mailbox, None
                    self._busy = True
                try:
                    candidate = engine.inspect(frame).judgements[0]
                    production = judgements[slot]
                    record.add(header, frame, production, candidate, _reason(production), _reason(candidate))
                finally:
                    with self._wake:
                        self._busy = False
                self._record_skipped(record)
                if record.compared() >= order.parts:
                    self._finish(order, label, record)
                    break
        except Exception as err:  # the shadow never takes production down
            log.exception("shadow run %s stopped", order.run)
            self._raise("model_shadow", "warning", f"shadow run {order.run} stopped: {type(err).__name__}: {err}")
        finally:
            self._record_skipped(record)
            record.close()
            if engine is not None:
                engine.close()

    def _record_skipped(self, record: ShadowRecord) -> None:
        with self._wake:
            skipped, self.skipped = self.skipped, 0
        if skipped:
            record.count_skipped(skipped)

    def _finish(self, order: ShadowOrder, label: str, record: ShadowRecord) -> None:
        self._record_skipped(record)
        folder = record.folder
        summary = shadow_summary(folder)
        report = shadow_report(order, label, summary)
        self.registry.trail.record("detector", "model_shadow_report", order.candidate, None, report)
        self._raise("shadow_report", "info",
                    f"shadow run of {label}: {summary['compared']} parts, {summary['agreed']} agreed, "
                    f"{summary['candidate_passes_production_rejects']} it would pass that production rejects, "
                    f"{summary['candidate_rejects_production_passes']} it would reject that production passes, "
                    f"{summary['skipped']} skipped; report {folder / REPORT_MD}")
        write_report(folder, order, label, summary, report)

    def close(self) -> None:
        """Stop the worker and send what it raised (call before the alarm socket closes)."""
        self._stop_worker()
        self.poll(float("-inf"))
        self.registry.close()
