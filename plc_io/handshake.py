"""The result handshake with the PLC: what Inspector writes, and when.

- Each decision is one multi-tag write: part id, result code, result sequence
  (and the inspections count, when configured). The sequence changes with
  every delivered decision, so PLC logic latches each result exactly once;
  after a reconnect it continues from the value the PLC holds, so it never
  repeats a recent value.
- The heartbeat counter (with the fault code) is written every heartbeat
  period; it is the PLC's watchdog on Inspector.
- With an acknowledge tag, the PLC copies the sequence it latched; a result
  not acknowledged within the timeout is reported.

Inspector writes only the tags in ``PlcTags.written()``: never an output,
never a safety signal.
"""

from __future__ import annotations

import time

from inspector.config.schema import PlcConfig
from plc_io.logix import RESULT_CODES, LogixConnection

FAULT_NONE, FAULT_FAILSAFE, FAULT_LINE_STOP = 0, 1, 2
MAX_DINT = 2**31 - 1


def next_in_dint(value: int) -> int:
    """value + 1, wrapping to 1 (0 stays 'never written')."""
    return 1 if value >= MAX_DINT else value + 1


class ResultHandshake:
    def __init__(self, config: PlcConfig) -> None:
        self.config = config
        self.tags = config.tags
        self.connection = LogixConnection(config)
        self.sequence = 0
        self.inspections = 0
        self.heartbeat = 0
        self._awaiting_ack: tuple[int, float] | None = None

    def _connect(self) -> None:
        if not self.connection.connected:
            self.connection.ensure_connected()
            held = self.connection.read(self.tags.sequence.name)[self.tags.sequence.name]
            self.sequence = int(held or 0)

    def write_decision(self, part_id: int, result: str) -> tuple[float, float]:
        """Deliver one decision; return when the write went to the PLC driver and when the PLC confirmed it (epoch s).

        Raises PlcError. The time between the two is the PLC's own service time
        and the network's (plus pycomm3 encoding the request, a fraction of a ms).
        """
        self._connect()
        sequence = next_in_dint(self.sequence)
        values = [
            (self.tags.part_id.name, part_id),
            (self.tags.result.name, RESULT_CODES[result]),
            (self.tags.sequence.name, sequence),
        ]
        if self.tags.inspections is not None:
            values.append((self.tags.inspections.name, next_in_dint(self.inspections)))
        sent = time.time()
        self.connection.write(*values)
        confirmed = time.time()
        self.sequence = sequence
        self.inspections = next_in_dint(self.inspections)
        if self.tags.ack is not None and self.config.ack_timeout_s > 0:
            self._awaiting_ack = (sequence, time.monotonic() + self.config.ack_timeout_s)
        return sent, confirmed

    def write_heartbeat(self, fault_code: int, active_alarms: int = 0) -> None:
        """Advance the heartbeat (and write the fault code and the active alarm count). Without those tags, only reconnects."""
        self._connect()
        values = []
        if self.tags.heartbeat is not None:
            values.append((self.tags.heartbeat.name, next_in_dint(self.heartbeat)))
        if self.tags.fault_code is not None:
            values.append((self.tags.fault_code.name, fault_code))
        if self.tags.alarms is not None:
            values.append((self.tags.alarms.name, active_alarms))
        if values:
            self.connection.write(*values)
        if self.tags.heartbeat is not None:
            self.heartbeat = next_in_dint(self.heartbeat)

    def unacknowledged(self) -> int | None:
        """The sequence the PLC failed to acknowledge in time, once; None otherwise. Raises PlcError."""
        if self._awaiting_ack is None:
            return None
        sequence, deadline = self._awaiting_ack
        acked = self.connection.read(self.tags.ack.name)[self.tags.ack.name]
        if acked == sequence:
            self._awaiting_ack = None
            return None
        if time.monotonic() >= deadline:
            self._awaiting_ack = None
            return sequence
        return None

    def close(self) -> None:
        self.connection.close()
