"""Writing decisions to an Allen-Bradley Logix controller with pycomm3.

One decision is one multi-tag write: part id, result code and a result
sequence number that increments with every decision, so PLC logic latches
each result exactly once (see docs for the PLC side). The writer owns its
driver and is used from one thread. A failed write closes the driver; the
next write recreates it, no sooner than the back-off allows, so a PLC that is
away costs each decision one failed attempt at most, never a long block.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from inspector.config.schema import PlcConfig
from inspector.errors import PlcError
from plc_io.declared_tags import declared_tag

if TYPE_CHECKING:
    from pycomm3 import LogixDriver

log = logging.getLogger(__name__)

RESULT_CODES = {"PASS": 1, "REJECT": 2, "FAILSAFE_REJECT": 3, "FAILSAFE_PASS": 4}


def open_declared_driver(config: PlcConfig) -> "LogixDriver":
    """A connected pycomm3 LogixDriver that knows the configured tags' declared types."""
    from pycomm3 import LogixDriver  # imported here: optional for tools that never talk to a PLC

    driver = LogixDriver(config.address, init_tags=False, init_program_tags=False)
    driver._cfg["use_instance_ids"] = False  # declared tags carry no instance ids
    driver._cfg["socket_timeout"] = config.timeout_s
    for tag in (config.tags.part_id, config.tags.result, config.tags.sequence):
        driver._tags[tag.name] = declared_tag(tag.name, tag.type)
    try:
        driver.open()
    except Exception as err:  # pycomm3 raises CommError, sockets raise OSError
        raise PlcError(f"cannot connect to PLC at {config.address}: {err}") from err
    return driver


def read_result_tags(config: PlcConfig) -> dict[str, int]:
    """The current part id, result and sequence tags, by their config names (part_id, result, sequence)."""
    driver = open_declared_driver(config)
    try:
        tags = config.tags
        replies = driver.read(tags.part_id.name, tags.result.name, tags.sequence.name)
    except Exception as err:
        raise PlcError(f"reading result tags from {config.address} failed: {err}") from err
    finally:
        driver.close()
    failed = [r for r in replies if r.error]
    if failed:
        raise PlcError("PLC refused " + "; ".join(f"tag {r.tag}: {r.error}" for r in failed))
    return dict(zip(("part_id", "result", "sequence"), (r.value for r in replies)))


class LogixResultWriter:
    def __init__(self, config: PlcConfig) -> None:
        self.config = config
        self.sequence = 0
        self._driver = None
        self._backoff_s = 0.0
        self._next_attempt = 0.0

    @property
    def connected(self) -> bool:
        return self._driver is not None

    def connect(self) -> None:
        """Open the driver; raise :class:`PlcError` if the PLC cannot be reached."""
        self._driver = open_declared_driver(self.config)
        self._backoff_s = 0.0
        log.info("connected to PLC at %s", self.config.address)

    def write_result(self, part_id: int, result: str) -> float:
        """Write one decision; return the time the PLC confirmed it. Raise :class:`PlcError` on failure."""
        if self._driver is None:
            if time.monotonic() < self._next_attempt:
                raise PlcError(f"PLC at {self.config.address} is unreachable; next reconnect in {self._next_attempt - time.monotonic():.1f}s")
            try:
                self.connect()
            except PlcError:
                self._schedule_reconnect()
                raise
        tags = self.config.tags
        sequence = (self.sequence + 1) % 2**31
        try:
            replies = self._driver.write(
                (tags.part_id.name, part_id),
                (tags.result.name, RESULT_CODES[result]),
                (tags.sequence.name, sequence),
            )
        except Exception as err:
            self._drop_driver()
            raise PlcError(f"write to PLC at {self.config.address} failed: {err}") from err
        failed = [r for r in replies if r.error]
        if failed:
            self._drop_driver()  # a rejected write leaves pycomm3's session unusable
            raise PlcError("PLC refused " + "; ".join(f"tag {r.tag}: {r.error}" for r in failed))
        self.sequence = sequence
        return time.time()

    def _schedule_reconnect(self) -> None:
        self._backoff_s = min(max(self._backoff_s * 2, 0.1), self.config.reconnect_backoff_max_s)
        self._next_attempt = time.monotonic() + self._backoff_s

    def _drop_driver(self) -> None:
        driver, self._driver = self._driver, None
        self._schedule_reconnect()
        if driver is not None:
            try:
                driver.close()
            except Exception:  # closing a broken session fails too; nothing left to release
                log.debug("closing a broken PLC session raised", exc_info=True)

    def close(self) -> None:
        if self._driver is not None:
            self._driver.close()
            self._driver = None
