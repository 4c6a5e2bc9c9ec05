"""Builders of valid messages for the unit tests; each test overrides what it is about."""

from __future__ import annotations

from inspector.messages import Detection, FrameHeader, PartSeen, Verdict


def part_seen(part_id: int, t_trigger: float, camera: str = "top", seq: int | None = None) -> PartSeen:
    return PartSeen("station-1", camera, part_id, part_id if seq is None else seq, t_trigger)


def a_verdict(**overrides) -> Verdict:
    fields = dict(
        station="station-1", camera="top", part_id=42, seq=7, result="REJECT", t_trigger=1700000000.25,
        t_verdict=1700000000.31, model_version="m-2024.1",
        detections=[
            Detection("scratch", 0.91, (10.0, 20.5, 110.0, 60.0), 4000.0, True),
            Detection("dent", 0.3, (200.0, 210.0, 220.0, 230.0), 400.0, False, area_mm2=1.5),
        ],
        timings_ms={"preprocess": 1.5, "inference": 12.25},
        reason="scratch 0.91", source="synthetic:seed=1:defect_rate=0.5:index=42",
    )
    fields.update(overrides)
    return Verdict(**fields)


def a_header(**overrides) -> FrameHeader:
    fields = dict(
        station="station-1", camera="top", part_id=5, seq=5, t_trigger=1.0, t_capture=1.01,
        height=480, width=640, channels=1, dtype="uint8", pixel_format="Mono8", source="x.png",
    )
    fields.update(overrides)
    return FrameHeader(**fields)
