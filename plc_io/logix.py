"""A connection to an Allen-Bradley Logix controller through pycomm3.

The connection owns one pycomm3 ``LogixDriver`` and is used from one thread.
Tag types come from the config (``declared``) or from the controller's tag
list (``upload``). Any failed request closes the driver; the next request
recreates it, no sooner than the back-off allows, so a PLC that is away costs
a request one failed attempt at most (bounded by the socket timeout), never a
long block. Errors name the tag the PLC refused.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Callable

from inspector.config.schema import PlcConfig, PlcTag
from inspector.errors import PlcError
from plc_io.declared_tags import declared_tag

if TYPE_CHECKING:
    from pycomm3 import LogixDriver

log = logging.getLogger(__name__)

RESULT_CODES = {"PASS": 1, "REJECT": 2, "FAILSAFE_REJECT": 3, "FAILSAFE_PASS": 4}


def controller_tag_problems(driver: "LogixDriver", tags: list[PlcTag]) -> dict[str, str]:
    """What is wrong with each configured tag on the controller (missing, other type); {} if nothing.

    Each tag is read with a raw Read Tag request, whose reply carries the
    controller's own type code: pycomm3 decodes replies with the declared
    type and would not notice a mismatch.
    """
    from pycomm3 import DataTypes
    from pycomm3.packets import ReadTagRequestPacket

    problems = {}
    for tag in tags:
        reply = driver.send(ReadTagRequestPacket(driver._sequence, tag.name, 1, declared_tag(tag.name, tag.type), 0, False))
        if reply.service_status not in (0, None):
            missing = "Destination unknown" in str(reply.error)
            problems[tag.name] = "missing on the controller" if missing else f"refused: {reply.error}"
            continue
        actual = DataTypes.get(int.from_bytes(bytes(reply.data[:2]), "little")) if reply.data else None
        if actual != tag.type:
            problems[tag.name] = f"controller type is {actual or 'unknown'}, config says {tag.type}"
    return problems


def open_driver(config: PlcConfig, check_tags: bool = True) -> "LogixDriver":
    """A connected LogixDriver that knows the configured tags' types (checked against the controller)."""
    from pycomm3 import LogixDriver  # imported here: optional for tools that never talk to a PLC

    upload = config.tag_types == "upload"
    driver = LogixDriver(config.address, init_tags=upload, init_program_tags=False)
    driver._cfg["socket_timeout"] = config.timeout_s
    if not upload:
        driver._cfg["use_instance_ids"] = False  # declared tags carry no instance ids
        for tag in config.tags.all():
            driver._tags[tag.name] = declared_tag(tag.name, tag.type)
    try:
        driver.open()
    except Exception as err:  # pycomm3 raises CommError/ResponseError, sockets raise OSError
        hint = " (the tag-list upload failed; set plc.tag_types: declared)" if upload and "attribute list" in str(err) else ""
        raise PlcError(f"cannot connect to PLC at {config.address}: {err}{hint}") from err
    if check_tags and not upload:
        try:
            problems = controller_tag_problems(driver, config.tags.all())
        except Exception as err:
            close_quietly(driver)
            raise PlcError(f"checking tags on PLC at {config.address} failed: {err}") from err
        if problems:
            close_quietly(driver)
            raise PlcError(f"PLC at {config.address}: " + "; ".join(f"tag {n}: {p}" for n, p in problems.items()))
    return driver


def close_quietly(driver: "LogixDriver") -> None:
    """Close a session that may already be broken (closing it then fails too; nothing is left to release)."""
    try:
        driver.close()
    except Exception:
        log.debug("closing the PLC session raised", exc_info=True)


def refused(replies: Any) -> str:
    """'' if every reply succeeded, else what the PLC said about each refused tag."""
    replies = replies if isinstance(replies, list) else [replies]
    return "; ".join(f"tag {r.tag}: {r.error}" for r in replies if r.error)


class LogixConnection:
    def __init__(self, config: PlcConfig) -> None:
        self.config = config
        self._driver: "LogixDriver | None" = None
        self._backoff_s = 0.0
        self._next_attempt = 0.0

    @property
    def connected(self) -> bool:
        return self._driver is not None

    def ensure_connected(self) -> "LogixDriver":
        if self._driver is not None:
            return self._driver
        wait = self._next_attempt - time.monotonic()
        if wait > 0:
            raise PlcError(f"PLC at {self.config.address} is unreachable; next reconnect attempt in {wait:.1f}s")
        try:
            self._driver = open_driver(self.config)
        except PlcError:
            self._schedule_reconnect()
            raise
        self._backoff_s = 0.0
        log.info("connected to PLC at %s", self.config.address)
        return self._driver

    def write(self, *tag_values: tuple[str, Any]) -> None:
        """Write tags in one request; raise :class:`PlcError` naming any tag the PLC refused."""
        self._request("write to", lambda driver: driver.write(*tag_values))

    def read(self, *names: str) -> dict[str, Any]:
        replies = self._request("read from", lambda driver: driver.read(*names))
        replies = replies if isinstance(replies, list) else [replies]
        return {r.tag: r.value for r in replies}

    def _request(self, what: str, send: Callable[["LogixDriver"], Any]) -> Any:
        """Run one request; any failure drops the session (the next request reconnects)."""
        driver = self.ensure_connected()
        try:
            replies = send(driver)
        except Exception as err:
            self.drop()
            raise PlcError(f"{what} PLC at {self.config.address} failed: {err}") from err
        problem = refused(replies)
        if problem:
            self.drop()
            raise PlcError(f"PLC at {self.config.address} refused {problem}")
        return replies

    def _schedule_reconnect(self) -> None:
        self._backoff_s = min(max(self._backoff_s * 2, 0.1), self.config.reconnect_backoff_max_s)
        self._next_attempt = time.monotonic() + self._backoff_s

    def drop(self) -> None:
        """Close the driver after a failure; the next request reconnects (after the back-off)."""
        driver, self._driver = self._driver, None
        self._schedule_reconnect()
        if driver is not None:
            close_quietly(driver)

    def close(self) -> None:
        if self._driver is not None:
            close_quietly(self._driver)
            self._driver = None


def read_result_tags(config: PlcConfig) -> dict[str, int]:
    """The current part id, result and sequence tags (keys: part_id, result, sequence)."""
    conn = LogixConnection(config)
    try:
        tags = config.tags
        values = conn.read(tags.part_id.name, tags.result.name, tags.sequence.name)
    finally:
        conn.close()
    return {"part_id": values[tags.part_id.name], "result": values[tags.result.name], "sequence": values[tags.sequence.name]}
