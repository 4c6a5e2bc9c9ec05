"""Image health: is the camera still seeing what it saw when the station was set up?

Three checks, each a pure function of the image against a stored reference
(``<camera>.health.json`` beside the camera's calibration), with limits from
the station config (``calibration.health``):

- **focus**: variance of the Laplacian divided by the squared mean grey level,
  so a change of exposure alone does not read as a change of focus; fails
  when it drops below ``min_focus_ratio`` of the reference.
- **exposure**: mean grey level within ``max_brightness_change`` (relative) of
  the reference, and no more than ``max_clipped_fraction`` of the pixels
  clipped (black or saturated) beyond what the reference had.
- **uniformity**: the image is cut into ``grid`` x ``grid`` blocks; each
  block's mean relative to the whole image's mean forms the lighting profile,
  which must stay within ``max_uniformity_change`` of the reference's
  (a lamp failing on one side, a shifted light, a dirty diffuser).

The checks assume the same view as the reference: a reference target or a
fixed region of the scene (``calibration.health.roi``), or a golden part in a
fixture. :class:`HealthMonitor` runs them at start and every ``period_s`` on
live frames and turns failures into :class:`~inspector.messages.Alarm`
messages (raised once, cleared when the check passes again).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Literal

import cv2
import numpy as np

from calibration import CalibrationError
from calibration.files import write_json_atomically
from calibration.intrinsics import to_gray
from inspector.config.schema import HealthLimits
from inspector.messages import Alarm
from inspector.typed import from_dict

log = logging.getLogger(__name__)

CheckName = Literal["focus", "exposure", "uniformity"]
CHECKS: tuple[CheckName, ...] = ("focus", "exposure", "uniformity")
DARK_CLIP, BRIGHT_CLIP = 2, 253
HISTOGRAM_BINS = 32


@dataclass(frozen=True)
class HealthMeasures:
    focus: float
    mean: float
    clipped_dark: float
    clipped_bright: float
    profile: list[float]  # block means / image mean, row by row
    histogram: list[float] = field(default_factory=list)  # share of pixels per grey-level bin

    @property
    def clipped(self) -> float:
        return self.clipped_dark + self.clipped_bright


@dataclass(frozen=True)
class HealthReference:
    camera: str
    measures: HealthMeasures
    grid: int
    roi: list[int]
    images: int
    created_t: float


@dataclass(frozen=True)
class HealthFinding:
    check: CheckName
    ok: bool
    text: str


@dataclass(frozen=True)
class HealthReport:
    measures: HealthMeasures
    findings: list[HealthFinding]

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    @property
    def failed(self) -> list[CheckName]:
        return [f.check for f in self.findings if not f.ok]


def crop(image: np.ndarray, roi: list[int] | tuple[int, ...]) -> np.ndarray:
    """The ``[x, y, width, height]`` region of ``image`` (all of it when ``roi`` is empty)."""
    if not roi:
        return image
    x, y, w, h = roi
    if x < 0 or y < 0 or w <= 0 or h <= 0 or x + w > image.shape[1] or y + h > image.shape[0]:
        raise CalibrationError(f"image health: region {list(roi)} is outside the {image.shape[1]}x{image.shape[0]} frame")
    return image[y : y + h, x : x + w]


def measure(image: np.ndarray, grid: int = 4, roi: list[int] | tuple[int, ...] = ()) -> HealthMeasures:
    """The health measures of one frame (mono8/mono16/BGR8)."""
    gray = crop(to_gray(image), roi)
    values = gray.astype(np.float32)
    mean = float(values.mean())
    lap = cv2.Laplacian(values, cv2.CV_32F, ksize=3)
    focus = float(lap.var() / max(mean, 1.0) ** 2)
    h, w = gray.shape
    profile = []
    for i in range(grid):
        for j in range(grid):
            block = values[i * h // grid : (i + 1) * h // grid, j * w // grid : (j + 1) * w // grid]
            profile.append(round(float(block.mean()) / max(mean, 1.0), 5))
    hist = np.bincount((gray // (256 // HISTOGRAM_BINS)).ravel(), minlength=HISTOGRAM_BINS) / gray.size
    return HealthMeasures(
        focus=focus,
        mean=mean,
        clipped_dark=float((gray <= DARK_CLIP).mean()),
        clipped_bright=float((gray >= BRIGHT_CLIP).mean()),
        profile=profile,
        histogram=[round(float(v), 6) for v in hist],
    )


def build_reference(camera: str, images: Iterable[np.ndarray], limits: HealthLimits) -> HealthReference:
    """A reference from one or more frames of the reference view (the median of each measure)."""
    measured = [measure(img, limits.grid, limits.roi) for img in images]
    if not measured:
        raise CalibrationError(f"camera {camera}: a health reference needs at least one image")

    def median(values: list[float]) -> float:
        return float(np.median(values))

    measures = HealthMeasures(
        focus=median([m.focus for m in measured]),
        mean=median([m.mean for m in measured]),
        clipped_dark=median([m.clipped_dark for m in measured]),
        clipped_bright=median([m.clipped_bright for m in measured]),
        profile=[round(v, 5) for v in np.median([m.profile for m in measured], axis=0).tolist()],
        histogram=[round(v, 6) for v in np.median([m.histogram for m in measured], axis=0).tolist()],
    )
    return HealthReference(camera, measures, limits.grid, list(limits.roi), len(measured), time.time())


def check_health(image: np.ndarray, reference: HealthReference, limits: HealthLimits) -> HealthReport:
    """Compare one frame with the reference; one finding per check."""
    if reference.grid != limits.grid or list(reference.roi) != list(limits.roi):
        raise CalibrationError(
            f"camera {reference.camera}: the health reference was taken with grid {reference.grid} and region {reference.roi}, "
            f"the config now says grid {limits.grid} and region {list(limits.roi)}: take a new reference"
        )
    m = measure(image, limits.grid, limits.roi)
    ref = reference.measures
    findings = []

    focus_ratio = m.focus / ref.focus if ref.focus > 0 else 1.0
    findings.append(HealthFinding(
        "focus", focus_ratio >= limits.min_focus_ratio,
        f"sharpness {focus_ratio:.0%} of the reference (at least {limits.min_focus_ratio:.0%})",
    ))

    brightness = m.mean / ref.mean - 1 if ref.mean > 0 else 0.0
    extra_clipped = m.clipped - ref.clipped
    exposure_ok = abs(brightness) <= limits.max_brightness_change and extra_clipped <= limits.max_clipped_fraction
    findings.append(HealthFinding(
        "exposure", exposure_ok,
        f"brightness {brightness:+.0%} vs the reference (within ±{limits.max_brightness_change:.0%}), "
        f"clipped pixels {m.clipped:.2%} (reference {ref.clipped:.2%}, at most {limits.max_clipped_fraction:.2%} more)",
    ))

    deviation = float(np.max(np.abs(np.subtract(m.profile, ref.profile))))
    worst = int(np.argmax(np.abs(np.subtract(m.profile, ref.profile))))
    findings.append(HealthFinding(
        "uniformity", deviation <= limits.max_uniformity_change,
        f"lighting profile differs by up to {deviation:.0%} (block row {worst // limits.grid + 1}, column {worst % limits.grid + 1}; "
        f"at most {limits.max_uniformity_change:.0%})",
    ))
    return HealthReport(m, findings)


def reference_file(folder: str | Path, camera: str) -> Path:
    return Path(folder) / f"{camera}.health.json"


def save_reference(reference: HealthReference, folder: str | Path) -> Path:
    return write_json_atomically(reference_file(folder, reference.camera), reference, "health reference")


def load_reference(folder: str | Path, camera: str) -> HealthReference:
    path = reference_file(folder, camera)
    try:
        return from_dict(HealthReference, json.loads(path.read_text()))
    except FileNotFoundError as err:
        raise CalibrationError(
            f"camera {camera}: no image-health reference at {path}; take one with 'inspector calibrate health-reference'"
        ) from err
    except OSError as err:
        raise CalibrationError(f"cannot read health reference {path}: {err}") from err
    except ValueError as err:
        raise CalibrationError(f"health reference {path}: {err}") from err


class HealthMonitor:
    """Checks a camera's frames at start and every ``limits.period_s``; alarms on drift.

    Feed it every frame (or just some) with :meth:`observe`; it checks only
    when a check is due. Each failing check raises its alarm once
    (``image_health.<check>``); the alarm is cleared (``active`` False) when
    the check passes again.
    """

    def __init__(self, station: str, camera: str, reference: HealthReference, limits: HealthLimits) -> None:
        self.station = station
        self.camera = camera
        self.reference = reference
        self.limits = limits
        self._next_check: float | None = None
        self._active: set[str] = set()
        self.last_report: HealthReport | None = None

    def due(self, t: float) -> bool:
        return self._next_check is None or t >= self._next_check

    def observe(self, frame: np.ndarray, t: float) -> list[Alarm]:
        """Alarms raised or cleared by this frame (empty when no check was due or nothing changed)."""
        if not self.due(t):
            return []
        self._next_check = t + self.limits.period_s
        report = check_health(frame, self.reference, self.limits)
        self.last_report = report
        alarms = []
        for finding in report.findings:
            code = f"image_health.{finding.check}"
            if not finding.ok and code not in self._active:
                self._active.add(code)
                log.warning("camera %s: image %s drifted: %s", self.camera, finding.check, finding.text)
                alarms.append(self._alarm(code, f"camera {self.camera}: {finding.check} out of limits: {finding.text}", t, True))
            elif finding.ok and code in self._active:
                self._active.discard(code)
                log.info("camera %s: image %s back within limits", self.camera, finding.check)
                alarms.append(self._alarm(code, f"camera {self.camera}: {finding.check} back within limits: {finding.text}", t, False))
        return alarms

    @property
    def active(self) -> set[str]:
        return set(self._active)

    def _alarm(self, code: str, text: str, t: float, active: bool) -> Alarm:
        return Alarm(self.station, f"camera:{self.camera}", code, "warning", text, t, active=active)


__all__ = [
    "CHECKS", "HealthFinding", "HealthMeasures", "HealthMonitor", "HealthReference", "HealthReport",
    "build_reference", "check_health", "load_reference", "measure", "save_reference",
]
