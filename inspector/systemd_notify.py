"""Telling systemd how a service is doing (``sd_notify``), without a new dependency.

A unit with ``Type=notify`` gives its main process the address of a datagram
socket in ``NOTIFY_SOCKET`` (a path, or an abstract socket written with a
leading ``@``). The process sends newline-separated ``KEY=VALUE`` lines to it:

- ``READY=1`` once the service is up (``systemctl start`` returns then; units
  ordered after it start then);
- ``WATCHDOG=1`` regularly while it works: with ``WatchdogSec=`` set, systemd
  passes the interval in ``WATCHDOG_USEC`` and kills and restarts a service
  that stays silent that long (a frozen process, a loop that no longer turns).
  Pings go at half the interval;
- ``STOPPING=1`` when it begins to stop;
- ``STATUS=...``, one line that ``systemctl status`` shows.

Outside a unit (no ``NOTIFY_SOCKET``) every call does nothing. The variables
are taken out of the environment when read, so the service's children (which
are not the unit's main process) do not inherit them. A notification that
cannot be sent is logged, never raised: telling systemd must not stop the
line.
"""

from __future__ import annotations

import logging
import os
import socket
import time

from inspector.bounded import clip

log = logging.getLogger(__name__)

STATUS_LIMIT = 200  # characters of a STATUS= line


def socket_address(value: str) -> str | None:
    """The ``AF_UNIX`` address of a ``NOTIFY_SOCKET`` value (None for one this module cannot use)."""
    if value.startswith("@"):
        return "\0" + value[1:]  # abstract namespace
    if value.startswith("/"):
        return value
    return None  # vsock: and relative paths: not used by a service unit on the appliance


class SystemdNotifier:
    """The service's side of the notify protocol; a no-op without a socket."""

    def __init__(self, address: str | None, watchdog_usec: int = 0) -> None:
        self.address = address
        self.watchdog_interval_s = watchdog_usec / 2e6 if address and watchdog_usec > 0 else 0.0
        self._socket: socket.socket | None = None
        self._last_ping = float("-inf")
        self._status = ""
        self._failed = False

    @classmethod
    def from_environment(cls, unset: bool = True) -> SystemdNotifier:
        """The notifier systemd configured for this process (``unset``: children do not inherit it)."""
        env = os.environ
        raw, usec, pid = env.get("NOTIFY_SOCKET", ""), env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
        if unset:
            for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
                env.pop(name, None)
        address = socket_address(raw) if raw else None
        if raw and address is None:
            log.warning("NOTIFY_SOCKET=%s is not a socket path or abstract name; systemd is not notified", clip(raw, 100))
        watchdog = int(usec) if usec.isdigit() and (not pid or pid == str(os.getpid())) else 0
        return cls(address, watchdog)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_enabled(self) -> bool:
        return self.watchdog_interval_s > 0

    def send(self, *lines: str) -> bool:
        """Send one notification (``KEY=VALUE`` lines); False when there is no socket or it failed."""
        if self.address is None:
            return False
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._socket.sendto("\n".join(lines).encode(), self.address)
        except OSError as err:
            if not self._failed:  # said once: a missing manager should not fill the log
                log.warning("cannot notify systemd at %s: %s", clip(self.address.lstrip("\0"), 100), err)
            self._failed = True
            return False
        self._failed = False
        return True

    def ready(self, status: str = "") -> bool:
        """The service is up."""
        return self.send("READY=1", *self._status_line(status))

    def watchdog(self, now: float | None = None) -> bool:
        """Ping the watchdog if half its interval has passed since the last ping (call it from the main loop)."""
        if not self.watchdog_enabled:
            return False
        now = time.monotonic() if now is None else now
        if now - self._last_ping < self.watchdog_interval_s:
            return False
        self._last_ping = now
        return self.send("WATCHDOG=1")

    def stopping(self, status: str = "") -> bool:
        """The service begins to stop."""
        return self.send("STOPPING=1", *self._status_line(status))

    def status(self, text: str) -> bool:
        """Say what the service is doing (sent only when it changed)."""
        line = self._status_line(text)
        return self.send(*line) if line else False

    def _status_line(self, text: str) -> list[str]:
        text = clip(" ".join(text.split()), STATUS_LIMIT)
        if not text or text == self._status:
            return []
        self._status = text
        return [f"STATUS={text}"]

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
