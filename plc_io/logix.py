"""A connection to an Allen-Bradley Logix controller through pycomm3.

The connection owns one pycomm3 ``LogixDriver`` and is used from one thread.
Tag types come from the config (``declared``) or from the controller's tag
list (``upload``); either way every configured tag is checked on the
controller at connect. A result tag (part id, result, sequence) that is
missing or of another type refuses the connection; an auxiliary tag's problem
is only reported (:attr:`LogixConnection.tag_problems`), so the results still
go through.

Two kinds of failure, kept apart:

- the PLC answered and refused some tags (a missing tag, a privilege error):
  :class:`~inspector.errors.PlcTagRefused`, naming each tag with the PLC's
  reply; the session is good and stays open;
- the request failed (no answer, a broken socket, a reply that could not be
  understood): the session is dropped and the next request reconnects.

A value that does not fit its tag's type is refused before anything is sent
(:mod:`plc_io.tag_values`), so a request is never written in part. A failed
connect is retried no sooner than the back-off allows (doubling from 0.1 s
up to ``reconnect_backoff_max_s``, at most 1 s), so a PLC that is away costs a
request one failed attempt at most (bounded by the socket timeout), never a
long block.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Callable

from inspector.config.schema import PlcConfig, PlcTag
from inspector.errors import PlcError, PlcTagRefused
from plc_io.declared_tags import declared_tag
from plc_io.tag_values import check_values

if TYPE_CHECKING:
    from pycomm3 import LogixDriver

log = logging.getLogger(__name__)

RESULT_CODES = {"PASS": 1, "REJECT": 2, "FAILSAFE_REJECT": 3, "FAILSAFE_PASS": 4}
# how pycomm3 reports a reply it did not get or could not read (a tag's own refusal carries the PLC's status text)
SESSION_FAILURES = ("Failed to parse reply", "No response data received", "Invalid tag request")


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
        if reply.error and reply.error.startswith(SESSION_FAILURES):
            raise PlcError(f"reading tag {tag.name} failed: {reply.error}")
        if reply.service_status not in (0, None):
            said = str(reply.error).split(" (see extended status)")[0]  # pycomm3 appends a guess at the extended status
            missing = "Destination unknown" in said
            problems[tag.name] = f"missing on the controller (the PLC replied: {said})" if missing else f"refused: {reply.error}"
            continue
        actual = DataTypes.get(int.from_bytes(bytes(reply.data[:2]), "little")) if reply.data else None
        if actual != tag.type:
            problems[tag.name] = f"controller type is {actual or 'unknown'}, config says {tag.type}"
    return problems


def uploaded_tag_problems(uploaded: dict, tags: list[PlcTag]) -> dict[str, str]:
    """The same check against the controller's uploaded tag list (``tag_types: upload``)."""
    problems = {}
    for tag in tags:
        info = uploaded.get(tag.name)
        if info is None:
            problems[tag.name] = "missing on the controller (not in its tag list)"
        elif info.get("data_type_name") != tag.type:
            problems[tag.name] = f"controller type is {info.get('data_type_name')}, config says {tag.type}"
    return problems


def tag_problems(driver: "LogixDriver", config: PlcConfig, tags: list[PlcTag]) -> dict[str, str]:
    """What is wrong with these tags on the controller, by the config's way of knowing tag types."""
    if config.tag_types == "upload":
        return uploaded_tag_problems(driver.tags, tags)
    return controller_tag_problems(driver, tags)


def open_driver(config: PlcConfig) -> "LogixDriver":
    """A connected LogixDriver that knows the configured tags' types (not yet checked on the controller)."""
    from plc_io.driver import LogixDriver  # imported here: optional for tools that never talk to a PLC

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
    return driver


def connect_checked(config: PlcConfig, require_results: bool = True) -> tuple["LogixDriver", dict[str, str]]:
    """A connected driver whose result tags are right on the controller, and the other tags' problems.

    Raises :class:`PlcError` naming each result tag that is missing or of
    another type (unless ``require_results`` is False: then every problem is returned).
    """
    driver = open_driver(config)
    try:
        problems = tag_problems(driver, config, config.tags.all())
    except Exception as err:
        close_quietly(driver)
        raise PlcError(f"checking tags on PLC at {config.address} failed: {err}") from err
    results = {tag.name for tag in config.tags.results()} if require_results else set()
    blocking = {name: problem for name, problem in problems.items() if name in results}
    if blocking:
        close_quietly(driver)
        raise PlcError(f"PLC at {config.address}: " + "; ".join(f"tag {n}: {p}" for n, p in blocking.items()))
    return driver, {name: problem for name, problem in problems.items() if name not in results}


def close_quietly(driver: "LogixDriver") -> None:
    """Close a session that may already be broken (closing it then fails too; nothing is left to release)."""
    try:
        driver.close()
    except Exception:
        log.debug("closing the PLC session raised", exc_info=True)


def split_replies(replies: Any) -> tuple[dict[str, str], dict[str, str]]:
    """(tags whose request failed, tags the PLC refused), each mapped to pycomm3's error text."""
    replies = replies if isinstance(replies, list) else [replies]
    failed, refused = {}, {}
    for reply in replies:
        if reply.error:
            (failed if str(reply.error).startswith(SESSION_FAILURES) else refused)[reply.tag] = str(reply.error)
    return failed, refused


def refused(replies: Any) -> str:
    """'' if every reply succeeded, else what went wrong with each tag."""
    failed, refusals = split_replies(replies)
    return "; ".join(f"tag {tag}: {error}" for tag, error in {**failed, **refusals}.items())


class LogixConnection:
    """One session with the PLC. ``require_results`` False (the probe): connect whatever the tags' state."""

    def __init__(self, config: PlcConfig, require_results: bool = True) -> None:
        self.config = config
        self.require_results = require_results
        self.tag_problems: dict[str, str] = {}  # the problems the last connect found (auxiliary tags only, by default)
        self.connects = 0  # successful connects so far: a new session is told by a new count
        self._driver: "LogixDriver | None" = None
        self._backoff_s = 0.0
        self._next_attempt = 0.0

    @property
    def connected(self) -> bool:
        return self._driver is not None

    def retry_in(self) -> float:
        """Seconds until a reconnect may be attempted (0: now); infinite while connected."""
        return float("inf") if self._driver is not None else max(0.0, self._next_attempt - time.monotonic())

    def ensure_connected(self) -> "LogixDriver":
        if self._driver is not None:
            return self._driver
        wait = self._next_attempt - time.monotonic()
        if wait > 0:
            raise PlcError(f"PLC at {self.config.address} is unreachable; next reconnect attempt in {wait:.1f}s")
        try:
            self._driver, self.tag_problems = connect_checked(self.config, self.require_results)
        except PlcError:
            self._backoff_s = min(max(self._backoff_s * 2, 0.1), self.config.reconnect_backoff_max_s)
            self._next_attempt = time.monotonic() + self._backoff_s
            raise
        self._backoff_s = 0.0
        self.connects += 1
        log.info("connected to PLC at %s", self.config.address)
        for name, problem in self.tag_problems.items():
            log.warning("PLC at %s: tag %s: %s", self.config.address, name, problem)
        return self._driver

    def identity(self) -> dict[str, Any]:
        """The controller's identity (product, vendor, revision, serial, keyswitch) as pycomm3 read it at connect."""
        return dict(self.ensure_connected().info)

    def write(self, *tag_values: tuple[str, Any]) -> None:
        """Write tags in one request.

        Raises :class:`PlcTagRefused` naming the tags the PLC refused (the
        others were written), :class:`PlcError` when a value does not fit
        its tag (nothing sent) or the request failed (session dropped).
        """
        driver = self.ensure_connected()
        check_values({name: info.get("data_type_name") for name, info in driver.tags.items()}, tag_values)
        self._answered("write to", self._guarded("write to", lambda: driver.write(*tag_values)))

    def read(self, *names: str) -> dict[str, Any]:
        """Read tags in one request; raises as :meth:`write`."""
        driver = self.ensure_connected()
        replies = self._answered("read from", self._guarded("read from", lambda: driver.read(*names)))
        return {r.tag: r.value for r in replies}

    def check(self, tags: list[PlcTag]) -> dict[str, str]:
        """Check these tags on the controller (exist, type) over the open session; {} if all are right."""
        driver = self.ensure_connected()
        return self._guarded("checking tags on", lambda: tag_problems(driver, self.config, tags))

    def _guarded(self, what: str, send: Callable[[], Any]) -> Any:
        """Run one request; if it fails, drop the session (the next request reconnects)."""
        try:
            return send()
        except Exception as err:  # pycomm3's CommError/ResponseError, sockets' OSError, a reply not understood
            self.drop()
            raise PlcError(f"{what} PLC at {self.config.address} failed: {err}") from err

    def _answered(self, what: str, replies: Any) -> list[Any]:
        """The replies, if the PLC took every tag; else drop the session (a failed request) or raise its refusals."""
        replies = replies if isinstance(replies, list) else [replies]
        failed, refusals = split_replies(replies)
        if failed:
            self.drop()
            raise PlcError(f"{what} PLC at {self.config.address} failed: " + "; ".join(f"tag {t}: {e}" for t, e in failed.items()))
        if refusals:
            raise PlcTagRefused(
                f"PLC at {self.config.address} refused " + "; ".join(f"tag {t}: {e}" for t, e in refusals.items()), refusals
            )
        return replies

    def drop(self) -> None:
        """Close the session after a failed request; the next request reconnects at once (a failed connect backs off)."""
        driver, self._driver = self._driver, None
        if driver is not None:
            close_quietly(driver)

    def close(self) -> None:
        self.drop()


def read_result_tags(config: PlcConfig) -> dict[str, int]:
    """The current part id, result and sequence tags (keys: part_id, result, sequence)."""
    conn = LogixConnection(config)
    try:
        tags = config.tags
        values = conn.read(tags.part_id.name, tags.result.name, tags.sequence.name)
    finally:
        conn.close()
    return {"part_id": values[tags.part_id.name], "result": values[tags.result.name], "sequence": values[tags.sequence.name]}
