"""Refused and dropped connections leave a line in the log of the process that binds the channel.

The binding end of each of the line's channels is a CURVE server
(:mod:`inspector.channels`). A process without the station's keys is refused
in the handshake, in one of two ways:

- it offers a CURVE key the channel does not admit: the ZAP handler refuses
  it and knows the key (:meth:`ConnectionWatch.refused_key`);
- it speaks no CURVE at all, does not know the binder's public key, or is not
  a ZeroMQ peer: the handshake fails before ZAP is asked, which ZeroMQ tells
  only the socket's monitor. A thread here reads the monitors.

A receiving end also drops a sender's connection, unread, when a message part
is above the channel's limit (``ZMQ_MAXMSGSIZE``: 4 MiB, ``transport.max_frame_mb``
for pixels), so that no peer can make it allocate a 400 MiB message. ZeroMQ
reports only that the connection ended, not the size, so the line names the
limit and the two causes it cannot tell apart (the sender stopped, or sent
too much); our own senders check the size before sending and log it
(:func:`inspector.transport.send_message`).

Each kind of line is logged the first time at once, then at most once a
minute per channel with the count since: a peer retrying ten times a second
cannot fill the log.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field

import zmq
from zmq.utils.monitor import recv_monitor_message

log = logging.getLogger(__name__)

LOG_INTERVAL_S = 60.0
_FAILED = zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
_WATCHED = (zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED | _FAILED
            | zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_MONITOR_STOPPED)


@dataclass
class _Repeats:
    last_logged: float
    unlogged: int = 0
    latest: str = ""
    level: int = logging.WARNING


class RateLimitedLog:
    """Per key, the first line logged at once; later ones within ``interval_s`` counted, and summed up after it."""

    def __init__(self, interval_s: float = LOG_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._keys: dict[tuple[str, str], _Repeats] = {}

    def note(self, key: tuple[str, str], text: str, level: int = logging.WARNING) -> None:
        now = time.monotonic()
        with self._lock:
            seen = self._keys.get(key)
            if seen is not None and now - seen.last_logged < self.interval_s:
                seen.unlogged, seen.latest, seen.level = seen.unlogged + 1, text, level
                return
            more = seen.unlogged if seen is not None else 0
            self._keys[key] = _Repeats(now)
        log.log(level, "%s%s", text, f" ({more} more like it in the minute before, not logged)" if more else "")

    def flush(self) -> None:
        """Log the count of what was held back, for keys whose minute is over."""
        now = time.monotonic()
        due = []
        with self._lock:
            for seen in self._keys.values():
                if seen.unlogged and now - seen.last_logged >= self.interval_s:
                    due.append((seen.level, seen.latest, seen.unlogged))
                    seen.last_logged, seen.unlogged = now, 0
        for level, text, count in due:
            log.log(level, "%s (%d like it within the last minute)", text, count)


@dataclass
class _Watched:
    channel: str
    limit_bytes: int | None  # a receiving end: the message size above which ZeroMQ drops the sender's connection
    accepted: list[int] = field(default_factory=list)  # connections whose handshake is under way (their fds, in order)
    refused: set[int] = field(default_factory=set)


class ConnectionWatch:
    """The monitors of one process's bound sockets, read by a daemon thread; :meth:`close` before the context ends."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.log = RateLimitedLog()
        self.refusals = 0  # connections refused in their handshake (keyless, unknown key), since start
        self._lock = threading.Lock()
        self._new: list[tuple[zmq.Socket, _Watched]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, channel: str, sock: zmq.Socket, limit_bytes: int | None = None) -> None:
        """Log refused handshakes on ``sock`` (a bound socket), and dropped senders when ``limit_bytes`` is given."""
        monitor = sock.get_monitor_socket(_WATCHED)
        with self._lock:
            self._new.append((monitor, _Watched(channel, limit_bytes)))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"connections-{self.owner}", daemon=True)
                self._thread.start()

    def refused_key(self, channel: str, key: bytes) -> None:
        """The ZAP handler refused a CURVE key this channel does not admit."""
        self.refusals += 1
        self.log.note((channel, "key"), f"refused a connection to channel {channel!r} from an unknown key "
                                        f"{key.decode(errors='replace')[:12]}")

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        with self._lock:  # watched after the thread ended, or never taken over by it
            for monitor, _ in self._new:
                monitor.close(0)
            self._new.clear()

    def _run(self) -> None:
        poller = zmq.Poller()
        watched: dict[zmq.Socket, _Watched] = {}
        try:
            while not self._stop.is_set():
                with self._lock:
                    for monitor, state in self._new:
                        poller.register(monitor, zmq.POLLIN)
                        watched[monitor] = state
                    self._new.clear()
                for monitor, _ in poller.poll(250):
                    if not self._read(monitor, watched[monitor]):
                        poller.unregister(monitor)
                        del watched[monitor]
                        monitor.close(0)
                self.log.flush()
        except zmq.ContextTerminated:
            pass
        except Exception:  # noqa: BLE001 - watching connections must never take a service down
            log.exception("the connection watch of %s stopped", self.owner)
        finally:
            for monitor in watched:
                monitor.close(0)

    def _read(self, monitor: zmq.Socket, state: _Watched) -> bool:
        """Handle one monitor event; False when the watched socket is closed (its monitor stopped)."""
        try:
            message = recv_monitor_message(monitor, zmq.NOBLOCK)
        except zmq.Again:
            return True
        event, value = message["event"], message["value"]
        if event == zmq.EVENT_MONITOR_STOPPED:
            return False
        if event == zmq.EVENT_ACCEPTED:
            state.accepted.append(value)
        elif event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            if state.accepted:
                state.accepted.pop(0)
        elif event & (_FAILED | zmq.EVENT_HANDSHAKE_FAILED_AUTH):
            if state.accepted:
                state.refused.add(state.accepted.pop(0))
            if event & _FAILED:  # an unknown key is the ZAP handler's to report: it knows the key
                detail = (f"ZeroMQ protocol error {value:#x}" if event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                          else os.strerror(value).lower())
                self._refused(state.channel, f"its handshake failed ({detail})")
        elif event == zmq.EVENT_DISCONNECTED:
            self._disconnected(state, value)
        return True

    def _disconnected(self, state: _Watched, fd: int) -> None:
        if fd in state.refused:
            state.refused.discard(fd)
        elif fd in state.accepted:  # gone before any handshake: not a ZeroMQ peer (a port scan, a plain TCP client)
            state.accepted.remove(fd)
            self._refused(state.channel, "it closed before a handshake (not a ZeroMQ CURVE peer)")
        elif state.limit_bytes is not None:
            self.log.note(
                (state.channel, "dropped"),
                f"channel {state.channel!r}: a sender's connection ended: it stopped, or it sent a message part above "
                f"the channel's limit of {state.limit_bytes} bytes, which ZeroMQ drops unread (that message is lost)",
                logging.INFO,
            )

    def _refused(self, channel: str, why: str) -> None:
        self.refusals += 1
        self.log.note((channel, "handshake"), f"refused a connection to channel {channel!r}: {why}: a process without "
                                              "the station's keys, or one that is not a CURVE peer of this station")
