"""The result handshake with the PLC: what Inspector writes, and when.

- Each decision is one multi-tag write of part id, result code and result
  sequence, and nothing else. The sequence changes with every delivered
  decision, so PLC logic latches each result exactly once; after a reconnect
  it continues from the value the PLC holds, so it never repeats a recent
  value. The part-id tag shows the 64-bit part id wrapped into its type
  (:func:`~plc_io.tag_values.plc_part_id`); the record keeps the full id.
- The auxiliary tags (heartbeat counter, fault code, alarm count, inspections
  count) are written together every heartbeat period, in their own request:
  the heartbeat is the PLC's watchdog on Inspector. A tag the PLC refuses is
  left out and tried again alone every few seconds (:mod:`plc_io.aux_tags`);
  it never costs a result.
- With an acknowledge tag, the PLC copies the sequence it latched; a result
  not acknowledged within the timeout is reported.
- A result write that went out and got no answer (the session dropped) is in
  doubt: every new session starts by reading the part id, result and
  sequence tags back, which settle it, latched (late) or not
  (:mod:`plc_io.reconcile`); :meth:`ResultHandshake.take_settled` hands the
  answer over.

Inspector writes only the tags in ``PlcTags.written()``: never an output,
never a safety signal.
"""

from __future__ import annotations

import time
from typing import Callable

from inspector.config.schema import PlcConfig
from inspector.errors import PlcError, PlcTagRefused, PlcWriteInDoubt
from plc_io.aux_tags import AuxTags
from plc_io.logix import RESULT_CODES, LogixConnection
from plc_io.reconcile import HeldResult, InDoubt, Settled
from plc_io.tag_values import next_count, plc_part_id, positive_max

FAULT_NONE, FAULT_FAILSAFE, FAULT_LINE_STOP = 0, 1, 2


class ResultHandshake:
    def __init__(self, config: PlcConfig) -> None:
        self.config = config
        self.tags = config.tags
        self.connection = LogixConnection(config)
        self.aux = AuxTags(config.tags)
        self.sequence = 0
        self.inspections = 0
        self.heartbeat = 0
        self._session = 0  # the connection's connect count this handshake has taken up
        self._awaiting_ack: tuple[int, float] | None = None
        self.in_doubt: InDoubt | None = None  # a result write without an answer, until a new session reads the tags back
        self._settled: Settled | None = None

    def connect(self) -> None:
        """Connect if not connected; a new session reads the result tags back: it continues the PLC's sequence and
        settles a write in doubt. Raises PlcError."""
        self.connection.ensure_connected()
        if self._session == self.connection.connects:
            return
        held = self.read_result()
        if self.in_doubt is not None:
            self._settled, self.in_doubt = self.in_doubt.settle(held, time.time()), None
            if self._settled.latched and self.tags.inspections is not None:
                self.inspections = next_count(self.inspections, self.tags.inspections.type)
        self.sequence = held.sequence
        self._session = self.connection.connects
        self.aux.new_session(self.connection.tag_problems, time.monotonic())

    def read_result(self) -> HeldResult:
        """The part id, result and sequence tags as the PLC holds them (one request). Raises PlcError."""
        tags = self.tags
        try:
            held = self.connection.read(tags.part_id.name, tags.result.name, tags.sequence.name)
        except PlcTagRefused as err:
            self.connection.drop()
            raise PlcError(str(err)) from err
        return HeldResult(int(held[tags.part_id.name] or 0), int(held[tags.result.name] or 0), int(held[tags.sequence.name] or 0))

    def take_settled(self) -> Settled | None:
        """The write in doubt the last new session settled (once), or None."""
        settled, self._settled = self._settled, None
        return settled

    def write_decision(self, part_id: int, result: str) -> tuple[float, float]:
        """Deliver one decision; return when the write went to the PLC driver and when the PLC confirmed it (epoch s).

        Raises PlcError; :class:`PlcWriteInDoubt` when the request went out and
        no answer came (the next session settles it: :meth:`take_settled`).
        The time between the two is the PLC's own service time and the
        network's (plus pycomm3 encoding the request, a fraction of a ms).
        """
        self.connect()
        tags = self.tags
        sequence = next_count(self.sequence, tags.sequence.type)
        values = (
            (tags.part_id.name, plc_part_id(part_id, tags.part_id.type)),
            (tags.result.name, RESULT_CODES[result]),
            (tags.sequence.name, sequence),
        )
        sent = time.time()
        try:
            self.connection.write(*values)
        except PlcTagRefused:
            # the PLC no longer takes a result tag (its program changed): reconnecting checks the tags and names it
            self.connection.drop()
            raise
        except PlcError as err:
            if self.connection.connected:  # refused before anything was sent (a value out of range): not in doubt
                raise
            self.in_doubt = InDoubt(part_id, values[0][1], values[1][1], sequence, sent, str(err))
            raise PlcWriteInDoubt(f"{err}; whether the PLC latched it is read back at the reconnect") from err
        confirmed = time.time()
        self.sequence = sequence
        if tags.inspections is not None:
            self.inspections = next_count(self.inspections, tags.inspections.type)
        if tags.ack is not None and self.config.ack_timeout_s > 0:
            self._awaiting_ack = (sequence, time.monotonic() + self.config.ack_timeout_s)
        return sent, confirmed

    def write_heartbeat(self, fault_code: int, active_alarms: int = 0) -> None:
        """Write the auxiliary tags in one request (heartbeat + 1, fault code, alarm count, inspections count).

        Tags the PLC refuses are left out and tried again alone when due.
        Without auxiliary tags, only (re)connects. Raises PlcError only when
        the PLC cannot be reached.
        """
        self.connect()
        now = time.monotonic()
        values = self._aux_values(fault_code, active_alarms)
        group = [key for key in values if self.aux.usable(key)]
        if group:
            written = self._aux_request(group, lambda: self.connection.write(*[(self.aux.tags[k].name, values[k]) for k in group]), now)
            if "heartbeat" in written:
                self.heartbeat = values["heartbeat"]
        for key in self.aux.due(now):
            self._recheck(key, values.get(key), now)

    def _aux_values(self, fault_code: int, active_alarms: int) -> dict[str, int]:
        tags, values = self.tags, {}
        if tags.heartbeat is not None:
            values["heartbeat"] = next_count(self.heartbeat, tags.heartbeat.type)
        if tags.fault_code is not None:
            values["fault_code"] = fault_code
        if tags.alarms is not None:
            values["alarms"] = min(active_alarms, positive_max(tags.alarms.type))
        if tags.inspections is not None:
            values["inspections"] = self.inspections
        return values

    def _recheck(self, key: str, value: int | None, now: float) -> None:
        """Try a refused tag again, alone: is it on the controller with its type, and does it take its value?"""
        tag = self.aux.tags[key]

        def request() -> None:
            problems = self.connection.check([tag])
            if problems:
                raise PlcTagRefused(problems[tag.name], problems)
            if value is None:  # the ack tag: Inspector reads it
                self.connection.read(tag.name)
            else:
                self.connection.write((tag.name, value))

        if key in self._aux_request([key], request, now):
            self.aux.accept(key)
            if key == "heartbeat" and value is not None:
                self.heartbeat = value

    def _aux_request(self, keys: list[str], request: Callable[[], object], now: float) -> set[str]:
        """Run a request on auxiliary tags; return the keys the PLC took.

        Refused tags are taken out of use. A failed request dropped the
        session: it is reopened at once (PlcError if that fails: the PLC is
        away) and the request sent again; if it fails a second time, its tags
        broke the session and are taken out of use.
        """
        failure: PlcError | None = None
        for _ in range(2):
            try:
                request()
            except PlcTagRefused as err:
                self.aux.refuse_names(err.refused, now)
                return {key for key in keys if key not in self.aux.keys_of(err.refused)}
            except PlcError as err:
                failure = err
                if not self.connection.connected:
                    self.connect()  # raises PlcError when the PLC itself cannot be reached
                continue
            return set(keys)
        for key in keys:
            self.aux.refuse(key, f"request failed: {failure}", now)
        return set()

    def unacknowledged(self) -> int | None:
        """The sequence the PLC failed to acknowledge in time, once; None otherwise. Raises PlcError."""
        if self._awaiting_ack is None or not self.aux.usable("ack"):
            self._awaiting_ack = None
            return None
        sequence, deadline = self._awaiting_ack
        name = self.tags.ack.name
        held: dict[str, int] = {}
        if not self._aux_request(["ack"], lambda: held.update(self.connection.read(name)), time.monotonic()):
            self._awaiting_ack = None
            return None
        if held[name] == sequence:
            self._awaiting_ack = None
            return None
        if time.monotonic() >= deadline:
            self._awaiting_ack = None
            return sequence
        return None

    def refused_tags(self) -> str:
        """'' if the PLC takes every auxiliary tag, else each refused one with the PLC's reply."""
        return self.aux.describe()

    def close(self) -> None:
        self.connection.close()
