"""The test as the camera and the detector of a line whose actuator, recorder and PLC are real processes."""

from __future__ import annotations

import time

import numpy as np

from inspector.messages import PartSeen, encode, encode_header
from inspector.services.detector import INSPECTION_KIND
from inspector.transport import send_message
from tests.helpers import PeerSockets, header_for
from tests.unit.factories import a_verdict


def noise_image(part_id: int) -> np.ndarray:
    """A 640x480 image PNG cannot compress (about 300 KB stored): disks fill at a known pace."""
    return np.random.default_rng(part_id).integers(0, 256, (480, 640), dtype=np.uint8)


class LinePeers:
    def __init__(self, config) -> None:
        self.peers = PeerSockets(config)
        self.part_seen = self.peers.open("camera", "part_seen")
        self.verdicts = self.peers.open("detector", "verdicts")
        self.inspections = self.peers.open("detector", "inspections")

    def part(self, part_id: int, result: str = "REJECT", image: bool = True) -> None:
        """A part triggered now, its verdict to the actuator and, with ``image``, its inspection record (the stored
        image) to the recorder, as the camera and a detector send them."""
        now = time.time()
        send_message(self.part_seen, PartSeen("station-1", "top", part_id, part_id, now), block=True)
        verdict = a_verdict(part_id=part_id, seq=part_id, result=result, t_trigger=now, t_verdict=now + 0.01)
        send_message(self.verdicts, verdict, block=True)
        if image:
            pixels = noise_image(part_id)
            _, verdict_json = encode(verdict)
            self.inspections.send_multipart(
                [INSPECTION_KIND, verdict_json, encode_header(header_for(part_id, pixels)), pixels], copy=False)

    def close(self) -> None:
        self.peers.close()
