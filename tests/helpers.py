"""Helpers the tests share."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import pytest

from inspector.messages import FrameHeader


def wait_until(condition: Callable[[], object], timeout_s: float, what: str, poll_s: float = 0.1):
    """Poll ``condition`` until it returns something truthy; fail the test naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll_s)
    pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {what}")


def header_for(part_id: int, pixels: np.ndarray, **overrides) -> FrameHeader:
    """A frame header for a Mono8 image from the default station's camera 'top', triggered now."""
    now = time.time()
    fields = dict(
        station="station-1", camera="top", part_id=part_id, seq=part_id, t_trigger=now, t_capture=now,
        height=pixels.shape[0], width=pixels.shape[1], channels=1, dtype="uint8", pixel_format="Mono8",
    )
    return FrameHeader(**{**fields, **overrides})


class PeerSockets:
    """The test standing in for other services of the line, holding their station keys.

    Each identity gets its own :class:`LineSockets` (and ZeroMQ context, as a
    separate process would), so its sockets are CURVE-secured exactly as the
    real service's are."""

    def __init__(self, config) -> None:
        from inspector.channels import LineSockets

        self._line_sockets = LineSockets
        self.config = config
        self.ends: dict = {}
        self.sockets: list = []

    def open(self, identity: str, channel: str, **kwargs):
        if identity not in self.ends:
            self.ends[identity] = self._line_sockets(self.config, identity)
        sock = self.ends[identity].open(channel, **kwargs)
        self.sockets.append(sock)
        return sock

    def close(self) -> None:
        for sock in self.sockets:
            sock.close(0)
        for end in self.ends.values():
            end.close()
            end.ctx.term()
        self.sockets.clear()
        self.ends.clear()
