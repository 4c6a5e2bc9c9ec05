"""The ``transport`` and ``security`` sections of the station config: the line's ZeroMQ endpoints and their CURVE keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from inspector.messages import MAX_RING_SLOTS
from inspector.typed import spec

FrameHandoff = Literal["auto", "message"]


@dataclass(frozen=True)
class TransportConfig:
    frames: str = spec("tcp://127.0.0.1:5561", doc="Camera -> detectors: frames (camera binds).")
    part_seen: str = spec("tcp://127.0.0.1:5562", doc="Camera -> actuator: part-seen events (actuator binds; queued in the camera while the actuator restarts).")
    verdicts: str = spec("tcp://127.0.0.1:5563", doc="Detectors -> actuator: verdicts (actuator binds).")
    decisions: str = spec("tcp://127.0.0.1:5564", doc="Actuator -> recorder: decisions, lossless (recorder binds).")
    inspections: str = spec("tcp://127.0.0.1:5565", doc="Detectors -> recorder: verdicts with images (recorder binds).")
    events: str = spec("tcp://127.0.0.1:5566", doc="Actuator -> observers (HMI): decisions and alarms, may drop (actuator binds).")
    alarms: str = spec(
        "tcp://127.0.0.1:5568",
        doc="Camera, detectors, supervisor -> actuator: alarms, which it shows (events, PLC alarm tag) and has recorded (actuator binds).",
    )
    heartbeats: str = spec("tcp://127.0.0.1:5567", doc="Services and the HMI -> supervisor: heartbeats (supervisor binds).")
    alarm_commands: str = spec(
        "tcp://127.0.0.1:5569",
        doc="HMI -> actuator: acknowledgements and shelvings of alarms on the station's alarm board (actuator binds).",
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
