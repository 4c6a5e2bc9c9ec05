"""Recorder service: decisions and reject images into SQLite and the image store."""

from __future__ import annotations

import logging

import zmq

from inspector.errors import MessageError, StoreError
from inspector.messages import Alarm, Decision, Verdict, decode_json
from inspector.services.base import Service
from inspector.services.detector import INSPECTION_KIND
from inspector.store import Store, decision_row, verdict_columns
from inspector.transport import GapCounter, frame_from_parts, open_socket, recv_message

log = logging.getLogger(__name__)

MAX_BATCH = 500


class RecorderService(Service):
    kind = "recorder"

    def setup(self) -> None:
        t = self.config.transport
        self.store = Store(self.config.recorder.database, self.config.recorder.image_dir)
        self.decisions = open_socket(self.ctx, "pull", t.decisions, bind=True, hwm=t.high_water_mark * 10)
        self.inspections = open_socket(self.ctx, "pull", t.inspections, bind=True, hwm=t.high_water_mark)
        self.poller = zmq.Poller()
        self.poller.register(self.decisions, zmq.POLLIN)
        self.poller.register(self.inspections, zmq.POLLIN)
        self.gaps = GapCounter()

    def step(self, timeout_s: float) -> None:
        if not self.poller.poll(timeout_s * 1000):
            return
        rows, alarms = self._drain_decisions()
        rows += self._drain_inspections()
        try:
            self.store.record(rows, alarms)
        except StoreError:
            self.counters["rows_failed"] += len(rows)
            log.exception("store write failed")
            raise  # let the supervisor restart the recorder: the database needs attention
        self.counters["rows_written"] += len(rows)
        self.counters["alarms_written"] += len(alarms)

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
            path = self.store.save_image(verdict, pixels)
            self.counters["images_saved"] += 1
            rows.append({"camera": verdict.camera, "part_id": verdict.part_id, "image_path": path, **verdict_columns(verdict)})
        return rows

    def teardown(self) -> None:
        if hasattr(self, "store"):
            for _ in range(3):  # what is still queued on shutdown is written, not lost
                self.step(0.05)
            self.store.close()
