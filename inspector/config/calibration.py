"""The ``calibration`` section of the station config: checkerboard, image-health limits, challenge parts, the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from inspector.typed import spec

ChallengeExpectation = Literal["pass", "reject"]


@dataclass(frozen=True)
class HealthLimits:
    period_s: float = spec(300.0, doc="Seconds between image-health checks of live frames (the first frame is checked at start).", minimum=1)
    grid: int = spec(4, doc="Blocks per side of the lighting-uniformity profile.", minimum=1, maximum=16)
    roi: list[int] = spec(
        factory=list, doc="Region [x, y, width, height] the checks look at (a reference target or fixed part of the view); empty = the whole frame."
    )
    min_focus_ratio: float = spec(0.6, doc="Sharpness (variance of the Laplacian) must stay at least this share of the reference's.", minimum=0, maximum=1)
    max_brightness_change: float = spec(0.2, doc="Mean grey level may differ from the reference's by at most this share.", minimum=0)
    max_clipped_fraction: float = spec(0.01, doc="Share of clipped (black or saturated) pixels allowed beyond the reference's.", minimum=0, maximum=1)
    max_uniformity_change: float = spec(0.1, doc="Each block's brightness relative to the frame's may move at most this much from the reference.", minimum=0)


@dataclass(frozen=True)
class ChallengePart:
    name: str = spec(doc="Name of the challenge part in verification reports and the audit trail.")
    image: str = spec(doc="Image of the part as the camera sees it (PNG, BMP, TIFF, JPEG); relative to the config file.")
    expect: ChallengeExpectation = spec(doc="'pass' for a known-good part, 'reject' for a known-bad one.")
    camera: str | None = spec(None, doc="Camera whose calibration (undistortion, scale) applies to the image (None = the first camera).")


@dataclass(frozen=True)
class CalibrationConfig:
    folder: str | None = spec(
        None, doc="Folder of per-camera calibration files (<camera>.json, <camera>.health.json); None = 'calibration' beside the recorder database."
    )
    board_cols: int = spec(9, doc="Calibration checkerboard: inner corners along a row.", minimum=3, maximum=100)
    board_rows: int = spec(6, doc="Calibration checkerboard: inner corners along a column.", minimum=3, maximum=100)
    square_mm: float = spec(25.0, doc="Calibration checkerboard: side of one square in millimetres.", minimum=0.1)
    undistort: bool = spec(False, doc="Remove lens distortion from frames before inspection (needs the camera's calibration).")
    health: HealthLimits = spec(factory=HealthLimits, doc="Image-health limits: focus, exposure, lighting uniformity against the stored reference.")
    challenge_parts: list[ChallengePart] = spec(
        factory=list, doc="Known-good and known-bad reference images that 'inspector verify' runs through the detector."
    )
    require_verification: bool = spec(
        False, doc="Report no PASS verdicts (reject instead) until a verification with the current model passed within 'verification_valid_h'."
    )
    verification_valid_h: float = spec(8.0, doc="Hours a passing verification stays valid (one shift).", minimum=0.01)
    audit_database: str | None = spec(None, doc="Audit trail (append-only, hash-chained SQLite); None = 'audit.db' beside the recorder database.")
