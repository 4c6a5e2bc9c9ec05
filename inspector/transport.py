"""ZeroMQ transport: sockets, zero-copy frames, sequence numbers and gap counts.

Who binds is chosen so that lossless streams queue on the sending side while
their receiver restarts: the receiver binds, senders connect (ZeroMQ keeps a
connecting socket's outgoing queue across reconnects). Frames are the
exception: the camera binds, so any number of detectors can connect and share
them, and frames for a dead detector are not replayed late.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import zmq

from inspector.errors import EndpointInUse, MessageError
from inspector.messages import FRAME_KIND, MAX_HEADER_BYTES, FrameHeader, decode, decode_json, encode, encode_header
from inspector.socket_holders import claim_ipc_path, describe, endpoint_holders

log = logging.getLogger(__name__)

SocketRole = Literal["push", "pull", "pub", "sub"]
_ZMQ_TYPES = {"push": zmq.PUSH, "pull": zmq.PULL, "pub": zmq.PUB, "sub": zmq.SUB}


def open_socket(
    ctx: zmq.Context, role: SocketRole, endpoint: str, *, bind: bool, hwm: int = 1000,
    prepare: Callable[[zmq.Socket], None] | None = None, private_folder: bool = False,
) -> zmq.Socket:
    """A configured socket bound or connected to ``endpoint``; ``prepare`` sets more options first (security).

    Binding an ipc:// endpoint first claims its socket file (:func:`inspector.socket_holders.claim_ipc_path`; its
    folder made owner-only when ``private_folder``). A bind that fails names who holds the endpoint
    (:class:`EndpointInUse`)."""
    if bind and endpoint.startswith("ipc://"):
        claim_ipc_path(Path(endpoint[len("ipc://"):]), private_folder=private_folder)
    sock = ctx.socket(_ZMQ_TYPES[role])
    if prepare is not None:
        prepare(sock)
    sock.setsockopt(zmq.SNDHWM, hwm)
    sock.setsockopt(zmq.RCVHWM, hwm)
    sock.setsockopt(zmq.LINGER, 500 if role == "push" else 0)
    if role == "sub":
        sock.setsockopt(zmq.SUBSCRIBE, b"")
    try:
        sock.bind(endpoint) if bind else sock.connect(endpoint)
    except zmq.ZMQError as err:
        sock.close(0)
        action = "bind" if bind else "connect"
        if err.errno != zmq.EADDRINUSE:
            raise MessageError(f"cannot {action} {role} socket to {endpoint}: {err}") from err
        holders = endpoint_holders(endpoint)
        who = describe(holders) or "held by a process this user cannot see"
        raise EndpointInUse(
            f"cannot {action} {role} socket to {endpoint}: {zmq.strerror(err.errno)}, {who} (a line of this station "
            "still running, or another program: stop it, or choose another endpoint in the station config's transport "
            "section)", holders,
        ) from err
    return sock


class MalformedFrame(MessageError):
    """A frame that cannot be inspected; ``header`` is set when it could be read."""

    def __init__(self, problem: str, header: FrameHeader | None = None) -> None:
        super().__init__(problem)
        self.header = header


def send_frame(sock: zmq.Socket, header: FrameHeader, pixels: np.ndarray) -> bool:
    """Send header + pixel buffer without copying the pixels; False if no receiver can take it."""
    if not pixels.flags.c_contiguous:
        raise ValueError("frame pixels must be C-contiguous to be sent without a copy")
    try:
        sock.send_multipart([FRAME_KIND, encode_header(header), pixels], flags=zmq.NOBLOCK, copy=False)
    except zmq.Again:
        return False
    return True


def send_frame_header(sock: zmq.Socket, header: FrameHeader) -> bool:
    """Send the header of a frame whose pixels wait in a shared-memory ring (see :mod:`inspector.frame_ring`)."""
    try:
        sock.send_multipart([FRAME_KIND, encode_header(header)], flags=zmq.NOBLOCK)
    except zmq.Again:
        return False
    return True


RingRead = Callable[[FrameHeader], np.ndarray]


def recv_frame(sock: zmq.Socket, flags: int = 0, read_ring: RingRead | None = None) -> tuple[FrameHeader, np.ndarray]:
    """Receive one frame; the pixel array is a view on ZeroMQ's buffer (no copy), or a copy out of the ring."""
    parts = sock.recv_multipart(flags=flags, copy=False)
    return parse_frame(parts, read_ring)


def parse_frame(parts: list[zmq.Frame], read_ring: RingRead | None = None) -> tuple[FrameHeader, np.ndarray]:
    """Decode and check a received frame; raise :class:`MalformedFrame` naming the problem.

    A frame is (kind, header, pixels), or (kind, header) when the header names a
    shared-memory ring slot; ``read_ring`` fetches those pixels.
    """
    if len(parts) not in (2, 3):
        raise MalformedFrame(f"expected 2 or 3 frame parts (kind, header[, pixels]), got {len(parts)}")
    if parts[0].bytes != FRAME_KIND:
        raise MalformedFrame(f"expected a frame, got message kind {parts[0].bytes[:32]!r}")
    if len(parts) == 3:
        return frame_from_parts(parts[1], parts[2])
    header = _frame_header(parts[1])
    if not header.in_ring:
        raise MalformedFrame(f"frame of part {header.part_id} has no pixels: neither a pixel buffer nor a ring slot", header)
    if read_ring is None:
        raise MalformedFrame(
            f"frame of part {header.part_id} is in a shared-memory ring; this receiver takes pixels in messages only", header
        )
    return header, read_ring(header)


def _frame_header(header_part: zmq.Frame) -> FrameHeader:
    try:
        header = decode_json(FrameHeader, header_part.buffer)
    except MessageError as err:
        raise MalformedFrame(str(err)) from err
    try:
        header.check()
    except MessageError as err:
        raise MalformedFrame(str(err), header) from err
    return header


def frame_from_parts(header_part: zmq.Frame, pixels_part: zmq.Frame) -> tuple[FrameHeader, np.ndarray]:
    """Decode a frame header and wrap its pixel buffer as an array (no copy)."""
    header = _frame_header(header_part)
    buffer = pixels_part.buffer
    if buffer.nbytes != header.nbytes:
        raise MalformedFrame(
            f"frame of part {header.part_id}: pixel buffer has {buffer.nbytes} bytes, "
            f"header {header.height}x{header.width}x{header.channels} {header.dtype} needs {header.nbytes}",
            header,
        )
    pixels = np.frombuffer(buffer, dtype=header.dtype).reshape(header.shape)
    return header, pixels


def send_message(sock: zmq.Socket, message: object, *, block: bool = False) -> bool:
    """Send a non-frame message; False if it could not be queued (receiver gone, queue full), or if it is above the
    line's message limit: the receiver's ZeroMQ would drop it unread, and the connection with it, so it is not
    sent, and the log names its size and the limit."""
    parts = encode(message)
    size = max(len(part) for part in parts)
    if size > MAX_HEADER_BYTES:
        log.error("%s message of %d bytes not sent: above the line's limit of %d bytes for a message part",
                  type(message).__name__, size, MAX_HEADER_BYTES)
        return False
    try:
        sock.send_multipart(parts, flags=0 if block else zmq.NOBLOCK)
    except zmq.Again:
        return False
    return True


def recv_message(sock: zmq.Socket, flags: int = 0) -> object:
    """Receive and strictly decode one non-frame message."""
    return decode(sock.recv_multipart(flags=flags))


@dataclass
class GapCounter:
    """Counts messages missing from sequence-numbered streams, per sender."""

    missing: int = 0
    _last: dict[str, int] = field(default_factory=dict)

    def observe(self, sender: str, seq: int) -> int:
        """Record ``seq`` from ``sender``; return how many messages were skipped before it."""
        last = self._last.get(sender)
        self._last[sender] = seq
        if last is None or seq <= last:  # first message, or the sender restarted
            return 0
        gap = seq - last - 1
        if gap:
            self.missing += gap
            log.warning("sequence gap from %s: %d message(s) missing before seq %d", sender, gap, seq)
        return gap
