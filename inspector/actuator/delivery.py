"""Delivering decisions: the PLC write, then the recorder and the observers.

Runs in its own thread with its own sockets, so a slow or absent PLC never
holds up the tracking of deadlines. Decisions are delivered in the order
they were made. A decision the PLC did not take is still recorded, marked
undelivered with the PLC's error, and counted.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
from collections import Counter

import zmq

from inspector.config.schema import Config
from inspector.errors import PlcError
from inspector.messages import Decision
from inspector.transport import open_socket, send_message
from plc_io import LogixResultWriter

log = logging.getLogger(__name__)

_STOP = object()


class DecisionDelivery(threading.Thread):
    def __init__(self, config: Config, ctx: zmq.Context) -> None:
        super().__init__(name="decision-delivery", daemon=True)
        self.config = config
        self.ctx = ctx
        self.queue: queue.Queue = queue.Queue()
        self.counters: Counter[str] = Counter()
        self.plc = LogixResultWriter(config.plc)
        self._seq = 0

    def submit(self, decision: Decision) -> None:
        self.queue.put(decision)

    def close(self, timeout_s: float = 5.0) -> None:
        """Deliver what is queued, then stop."""
        self.queue.put(_STOP)
        self.join(timeout_s)
        if self.is_alive():
            log.error("decision delivery did not finish in %.1fs; %d decision(s) still queued", timeout_s, self.queue.qsize())

    def run(self) -> None:
        t = self.config.transport
        recorder = open_socket(self.ctx, "push", t.decisions, bind=False, hwm=t.high_water_mark * 10)
        events = open_socket(self.ctx, "pub", t.events, bind=True, hwm=t.high_water_mark)
        try:
            while (decision := self.queue.get()) is not _STOP:
                delivered = self._write_plc(decision)
                if not send_message(recorder, delivered):
                    self.counters["decisions_unrecorded"] += 1
                    log.error("part %d: recorder queue full; decision not recorded", decision.part_id)
                send_message(events, delivered)
        finally:
            self.plc.close()
            recorder.close(linger=2000)
            events.close(0)

    def _write_plc(self, decision: Decision) -> Decision:
        self._seq += 1
        try:
            t_written = self.plc.write_result(decision.part_id, decision.result)
        except PlcError as err:
            self.counters["plc_undelivered"] += 1
            log.error("part %d: decision %s not delivered to the PLC: %s", decision.part_id, decision.result, err)
            return dataclasses.replace(decision, seq=self._seq, plc_delivered=False, plc_error=str(err))
        self.counters["plc_written"] += 1
        return dataclasses.replace(decision, seq=self._seq, plc_delivered=True, t_plc_written=t_written)
