"""The ``transport`` and ``security`` sections of the station config: the line's ZeroMQ endpoints and their CURVE keys.

A station on one host talks over ipc:// socket files in one owner-only folder (``transport.ipc_dir``): no other
local user can connect to a channel, or take its endpoint while its service restarts (a TCP port on loopback can be
bound by anyone). A channel that crosses hosts is set to ``tcp://HOST:PORT``, with CURVE
(:mod:`inspector.channels`); :meth:`TransportConfig.endpoint` is the one place the rule lives.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from inspector.errors import ConfigError
from inspector.messages import MAX_RING_SLOTS
from inspector.typed import spec

FrameHandoff = Literal["auto", "message"]


ENDPOINT_FIELDS: tuple[str, ...] = (
    "frames", "part_seen", "verdicts", "decisions", "inspections", "events", "alarms", "heartbeats", "alarm_commands",
)
"""The fields of :class:`TransportConfig` holding a channel's endpoint: one per channel of
:data:`inspector.channels.CHANNELS`, named as the channel."""

IPC_DIR_NAME = "ipc"  # transport.ipc_dir's default: this folder in station.state_dir
IPC_PATH_MAX = 107  # bytes of a Unix socket's path (sun_path holds 108 with the closing NUL)
LONGEST_SOCKET_NAME = "/" + max(ENDPOINT_FIELDS, key=len)

_ON_THIS_HOST = (
    " None (the default): an ipc:// socket file in transport.ipc_dir, reachable only on this host and only by the "
    "station's user. Set tcp://HOST:PORT only for a channel that crosses hosts (CURVE then required)."
)


def _endpoint(doc: str) -> str | None:
    return spec(None, doc=doc + _ON_THIS_HOST)


@dataclass(frozen=True)
class TransportConfig:
    frames: str | None = _endpoint("Camera -> detectors: frames (camera binds).")
    part_seen: str | None = _endpoint("Camera -> actuator: part-seen events (actuator binds; queued in the camera while the actuator restarts).")
    verdicts: str | None = _endpoint("Detectors -> actuator: verdicts (actuator binds).")
    decisions: str | None = _endpoint("Actuator -> recorder: decisions, lossless (recorder binds).")
    inspections: str | None = _endpoint("Detectors -> recorder: verdicts with images (recorder binds).")
    events: str | None = _endpoint("Actuator -> observers (HMI): decisions and alarms, may drop (actuator binds).")
    alarms: str | None = _endpoint(
        "Camera, detectors, supervisor -> actuator: alarms, which it shows (events, PLC alarm tag) and has recorded (actuator binds)."
    )
    heartbeats: str | None = _endpoint("Services and the HMI -> supervisor: heartbeats (supervisor binds).")
    alarm_commands: str | None = _endpoint(
        "HMI -> actuator: acknowledgements and shelvings of alarms on the station's alarm board (actuator binds).",
    )
    ipc_dir: str | None = spec(
        None,
        doc="Folder of the line's ipc:// socket files, one per channel not set to tcp. None: 'ipc' in "
        "station.state_dir, or, when that is too deep for a socket path, /tmp/inspector-UID-HASH (HASH names the "
        "state folder). Made owner-only (0700) by the service that binds first; a folder of another user is refused. "
        f"A socket path holds at most {IPC_PATH_MAX} bytes: a folder longer than "
        f"{IPC_PATH_MAX - len(LONGEST_SOCKET_NAME)} bytes is refused at load.",
    )
    high_water_mark: int = spec(1000, doc="Messages queued per socket before a sender counts a drop.", minimum=10)
    max_frame_mb: float = spec(
        64.0,
        doc="Largest frame (pixels) a detector or the recorder accepts; a bigger message is refused by ZeroMQ before it "
        "is read. Other messages are limited to 4 MiB.",
        minimum=0.1,
        maximum=2048,
    )
    frame_handoff: FrameHandoff = spec(
        "auto",
        doc="How frames reach the detectors. 'auto': when the frames endpoint is on this host, the camera writes the "
        "pixels into an owner-only ring under /dev/shm and sends only the frame header (authenticated and encrypted "
        "by CURVE): the pixels are not encrypted on the decision's path; without /dev/shm room for the ring, or with "
        "the frames endpoint reachable from other hosts, the pixels travel in the message. 'message': always in the "
        "message (encrypted when security.curve is on).",
    )
    frame_ring_slots: int = spec(
        16,
        doc="Frames the shared-memory ring holds per camera; a detector that falls this many frames behind has its "
        "overwritten frames failed safe. Cover the frames in flight within the decision budget, with margin.",
        minimum=2,
        maximum=MAX_RING_SLOTS,
    )

    def ipc_folder(self, state_dir: str) -> Path:
        """The folder of the line's ipc:// socket files (absolute): ``ipc_dir``, else ``ipc`` in the state folder;
        when that is too deep for a socket path, a short folder of this user in /tmp named by it
        (``/tmp/inspector-UID-HASH``: the sticky /tmp keeps others from renaming or removing it)."""
        if self.ipc_dir:
            return Path(os.path.abspath(self.ipc_dir))
        folder = Path(os.path.abspath(Path(state_dir) / IPC_DIR_NAME))
        if len(os.fsencode(str(folder))) + len(LONGEST_SOCKET_NAME) <= IPC_PATH_MAX:
            return folder
        digest = hashlib.sha256(os.fsencode(str(folder))).hexdigest()[:16]
        return Path(f"/tmp/inspector-{os.geteuid()}-{digest}")

    def endpoint(self, channel: str, state_dir: str) -> str:
        """The endpoint of ``channel``: as configured, else an ipc:// socket file in :meth:`ipc_folder`.

        The one place the rule lives (everyone who binds or connects asks here). Raises :class:`ConfigError`,
        naming the field, for an ipc path too long for a Unix socket."""
        if channel not in ENDPOINT_FIELDS:
            raise ValueError(f"unknown channel {channel!r} (known: {', '.join(ENDPOINT_FIELDS)})")
        configured = getattr(self, channel)
        if configured:
            field = f"transport.{channel}"
            endpoint = configured
        else:
            field = "transport.ipc_dir"
            endpoint = f"ipc://{self.ipc_folder(state_dir) / channel}"
        if endpoint.startswith("ipc://"):
            size = len(os.fsencode(endpoint[len("ipc://"):]))
            if size > IPC_PATH_MAX:
                if configured:
                    fix = "choose a shorter path"
                else:
                    fix = (f"set transport.ipc_dir to a shorter folder (at most {IPC_PATH_MAX - len(LONGEST_SOCKET_NAME)} "
                           "bytes), or leave it unset: the state folder's 'ipc', or a short folder in /tmp when that is "
                           "too deep")
                raise ConfigError(field, f"the socket path {endpoint[len('ipc://'):]} is {size} bytes, and a Unix socket "
                                  f"path holds at most {IPC_PATH_MAX}: {fix}")
        return endpoint

    def endpoints(self, state_dir: str) -> dict[str, str]:
        """Every channel's endpoint, by channel name."""
        return {name: self.endpoint(name, state_dir) for name in ENDPOINT_FIELDS}


@dataclass(frozen=True)
class SecurityConfig:
    curve: bool = spec(
        True,
        doc="Encrypt and authenticate every socket of the line with ZeroMQ CURVE: only processes holding the station's "
        "service keys (inspector keys init) can send verdicts, decisions, part-seen events and heartbeats, or read "
        "frames and events. Off is allowed only while every endpoint is on loopback.",
    )
    keys_dir: str | None = spec(
        None, doc="Folder of the station's CURVE key pairs (None = 'keys' in station.state_dir); owner-only."
    )
