"""The line's channels, in one table: who binds, who may connect, socket kinds, queue depth, security.

Every ZeroMQ socket of the line is opened through :class:`LineSockets`, from
this table. Who binds is chosen so that lossless streams queue on the sending
side while their receiver restarts: the receiver binds, senders connect
(ZeroMQ keeps a connecting socket's outgoing queue across reconnects). Frames
are the exception: the camera binds, so any number of detectors can connect
and share them, and frames for a dead detector are not replayed late.

With ``security.curve`` on (the default), every socket is CURVE-encrypted and
authenticated: a binding socket is a CURVE server holding its service's
secret key, and its ZAP handler admits only the public keys of the services
this table lets connect to that channel (the channel's name is the ZAP
domain); a connecting socket presents its own service's key pair and checks
the binder's public key. A process without the station's keys can neither
send a verdict or a heartbeat nor read frames or events.

Where a channel is: :func:`endpoint` (the rule is the config's,
:meth:`inspector.config.transport.TransportConfig.endpoint`): on one host a
socket file in the line's owner-only folder, so no other local user can reach
or take it; TCP only for a channel set to cross hosts. CURVE stays on over the
socket files: the folder keeps other users out, the keys keep each of the
station's own services to its channels. A bind that fails names the process
holding the endpoint (:mod:`inspector.socket_holders`).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import zmq

from inspector.config.schema import Config
from inspector.connection_watch import ConnectionWatch
from inspector.errors import MessageError
from inspector.messages import MAX_HEADER_BYTES
from inspector.line_keys import KeyPair, has_keys, load_key_pair, public_key
from inspector.service_registry import IDENTITIES, OPTIONAL_IDENTITIES, PROCESSES
from inspector.socket_holders import endpoint_in_use
from inspector.transport import SocketRole, open_socket

log = logging.getLogger(__name__)

HEARTBEAT_SENDERS = tuple(dict.fromkeys(p.identity for p in PROCESSES if p.heartbeats and p.identity))  # the HMI: observer


@dataclass(frozen=True)
class Channel:
    name: str  # the TransportConfig field holding its endpoint (inspector.config.transport.ENDPOINT_FIELDS); its ZAP domain
    binder: str
    binder_role: SocketRole
    connectors: tuple[str, ...]
    connector_role: SocketRole
    hwm_factor: int = 1  # queue depth: transport.high_water_mark times this
    lossless: bool = True  # False: observers may miss messages under load
    carries_pixels: bool = False  # its messages hold a frame's pixels: limited by transport.max_frame_mb


CHANNELS: dict[str, Channel] = {
    c.name: c
    for c in (
        Channel("frames", "camera", "push", ("detector",), "pull", carries_pixels=True),
        Channel("part_seen", "actuator", "pull", ("camera",), "push"),
        Channel("verdicts", "actuator", "pull", ("detector",), "push"),
        Channel("decisions", "recorder", "pull", ("actuator",), "push", hwm_factor=10),
        # alarms go through the actuator, which shows them (events, PLC alarm tag) and has them recorded:
        # an alarm reaches the operator and the PLC while the recorder is down
        Channel("alarms", "actuator", "pull", ("camera", "detector", "recorder", "supervisor", "publisher"), "push", hwm_factor=10),
        Channel("inspections", "recorder", "pull", ("detector",), "push", carries_pixels=True),
        Channel("events", "actuator", "pub", ("observer",), "sub", lossless=False),
        Channel("heartbeats", "supervisor", "sub", HEARTBEAT_SENDERS, "pub", lossless=False),
        Channel("alarm_commands", "actuator", "pull", ("observer",), "push"),  # the HMI's acknowledgements and shelvings
    )
}


def endpoint(config: Config, channel_name: str) -> str:
    """Where ``channel_name`` is bound and connected to (the rule: :meth:`TransportConfig.endpoint`)."""
    return config.transport.endpoint(channel_name, config.station.state_dir)


def in_line_folder(config: Config, endpoint_: str) -> bool:
    """Whether ``endpoint_`` is a socket file in the line's own ipc folder (kept owner-only)."""
    if not endpoint_.startswith("ipc://"):
        return False
    return Path(endpoint_[len("ipc://"):]).parent == config.transport.ipc_folder(config.station.state_dir)


def taken_endpoints(config: Config, binders: set[str]) -> list[tuple[str, str, str]]:
    """The endpoints that ``binders`` would bind and another process holds now: (channel, endpoint, who holds it)."""
    taken = []
    for channel in CHANNELS.values():
        if channel.binder in binders:
            where = endpoint(config, channel.name)
            holder = endpoint_in_use(where)
            if holder:
                taken.append((channel.name, where, holder))
    return taken


def loopback_tcp_channels(config: Config) -> list[str]:
    """The channels set to a loopback TCP port (any local user may connect to one, or bind it while its binder
    restarts): a station on one host leaves them unset, on socket files."""
    return [name for name in CHANNELS
            if (getattr(config.transport, name) or "").startswith(("tcp://127.", "tcp://localhost", "tcp://[::1]"))]


def channel_ends(identity: str) -> dict[str, str]:
    """The channels an identity has an end of: channel name -> 'binds' or 'connects'."""
    ends = {}
    for channel in CHANNELS.values():
        if channel.binder == identity:
            ends[channel.name] = "binds"
        elif identity in channel.connectors:
            ends[channel.name] = "connects"
    return ends


def max_message_bytes(config: Config, channel: Channel) -> int:
    """The largest message part a receiver of ``channel`` accepts."""
    if channel.carries_pixels:
        return max(int(config.transport.max_frame_mb * 1024 * 1024), MAX_HEADER_BYTES)
    return MAX_HEADER_BYTES


class _AllowedKeys:
    """ZAP credentials provider: per channel (ZAP domain), the public keys that may connect."""

    def __init__(self, watch: ConnectionWatch) -> None:
        self.allowed: dict[str, set[bytes]] = {}
        self.watch = watch

    def callback(self, domain: str, key: bytes) -> bool:
        ok = key in self.allowed.get(domain, set())
        if not ok:
            self.watch.refused_key(domain, key)  # logged, rate-limited
        return ok


class LineSockets:
    """The sockets of one process of the line, opened from :data:`CHANNELS` as ``identity``."""

    def __init__(self, config: Config, identity: str, ctx: zmq.Context | None = None) -> None:
        if identity not in IDENTITIES:
            raise ValueError(f"unknown line identity {identity!r}")
        self.config = config
        self.identity = identity
        self.ctx = ctx or zmq.Context()
        self.curve = config.security.curve
        self.keys_dir = Path(config.security.keys_dir) if config.security.keys_dir else None
        self._own: KeyPair | None = None
        self._auth = None
        self._watch = ConnectionWatch(identity)  # refused handshakes and dropped senders are logged
        self._allowed = _AllowedKeys(self._watch)
        self._lock = threading.Lock()

    @property
    def refused_connections(self) -> int:
        """Connections refused in their handshake (unknown keys, no CURVE, no ZeroMQ), since start."""
        return self._watch.refusals

    def _keys(self) -> KeyPair:
        if self._own is None:
            self._own = load_key_pair(self.keys_dir, self.identity)
        return self._own

    def _authenticator(self):
        with self._lock:
            if self._auth is None:
                from zmq.auth.thread import ThreadAuthenticator

                self._auth = ThreadAuthenticator(self.ctx, log=logging.getLogger("inspector.zap"))
                self._auth.start()
            return self._auth

    def open(self, channel_name: str, hwm: int | None = None) -> zmq.Socket:
        """This process's end of ``channel_name``: bound if it is the binder, else connected."""
        channel = CHANNELS[channel_name]
        binds = channel.binder == self.identity
        if not binds and self.identity not in channel.connectors:
            raise MessageError(f"{self.identity} has no end of channel {channel_name!r} (connectors: {', '.join(channel.connectors)})")
        role = channel.binder_role if binds else channel.connector_role
        depth = hwm if hwm is not None else self.config.transport.high_water_mark * channel.hwm_factor
        where = endpoint(self.config, channel_name)

        def secure(sock: zmq.Socket) -> None:
            if binds and role in ("pull", "sub"):
                # ZeroMQ drops a peer that sends a bigger message part before any of it is read, and the peer
                # reconnects. (Not on a connecting receiver: libzmq would not reconnect it. The detector checks
                # a frame's size from its header instead.)
                sock.maxmsgsize = max_message_bytes(self.config, channel)
            if not self.curve:
                return
            own = self._keys()
            sock.curve_publickey, sock.curve_secretkey = own.public, own.secret
            if binds:
                self._allowed.allowed[channel_name] = {
                    public_key(self.keys_dir, who)
                    for who in channel.connectors
                    if who not in OPTIONAL_IDENTITIES or has_keys(self.keys_dir, who)  # not installed: not admitted
                }
                # pyzmq looks the provider up by the socket's ZAP domain ("*" stands only for an empty domain)
                self._authenticator().configure_curve_callback(channel_name, credentials_provider=self._allowed)
                sock.zap_domain = channel_name.encode()
                sock.curve_server = True
            else:
                sock.curve_serverkey = public_key(self.keys_dir, channel.binder)

        sock = open_socket(self.ctx, role, where, bind=binds, hwm=depth, prepare=secure,
                           private_folder=in_line_folder(self.config, where))
        if binds:
            self._watch.watch(channel_name, sock, max_message_bytes(self.config, channel) if role in ("pull", "sub") else None)
        return sock

    def close(self) -> None:
        """Stop the ZAP handler and the connection watch (sockets are closed by their owners, the context by its owner)."""
        self._watch.close()
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
