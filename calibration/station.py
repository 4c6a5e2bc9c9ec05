"""Where a station's calibration lives, and what it means for one camera's frames."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from calibration import CalibrationError
from calibration.intrinsics import BoardSpec, CameraCalibration, Undistorter, load_calibration
from inspector.config.schema import Config


@dataclass(frozen=True)
class CalibrationPaths:
    folder: Path
    audit_database: Path
    audit_key: Path  # the audit trail's HMAC key, outside the database (the station's state folder)
    audit_anchor: Path  # the append-only file recording every entry's hash, outside the database


def resolve_path(value: str, base_dir: Path | None) -> Path:
    """A config path: ``~`` and environment variables expanded, relative ones taken from ``base_dir`` (or the working folder)."""
    path = Path(os.path.expandvars(os.path.expanduser(value)))
    return path if path.is_absolute() else ((base_dir or Path.cwd()) / path).resolve()


def calibration_paths(config: Config, config_dir: Path | None = None) -> CalibrationPaths:
    """The calibration folder and audit database of a station (defaults: beside the recorder database).

    A config read by ``load_config`` has absolute paths already; ``config_dir``
    only matters for a config built in code with relative paths.
    """
    beside_database = Path(config.recorder.database).parent
    cal = config.calibration
    state = resolve_path(config.station.state_dir, config_dir)
    return CalibrationPaths(
        folder=resolve_path(cal.folder, config_dir) if cal.folder else beside_database / "calibration",
        audit_database=resolve_path(cal.audit_database, config_dir) if cal.audit_database else beside_database / "audit.db",
        audit_key=state / "audit.key",
        audit_anchor=state / "audit.anchor",
    )


def open_audit_trail(config: Config, config_dir: Path | None = None, readonly: bool = False):
    """The station's audit trail with its key and anchor (``readonly``: to read and verify, writing nothing)."""
    from inspector.audit import AuditTrail

    paths = calibration_paths(config, config_dir)
    return AuditTrail(paths.audit_database, paths.audit_key, paths.audit_anchor, readonly=readonly)


def board_of(config: Config) -> BoardSpec:
    cal = config.calibration
    return BoardSpec(cal.board_cols, cal.board_rows, cal.square_mm)


def camera_name(config: Config, camera: str | None) -> str:
    """``camera`` checked against the config, or the first camera's name."""
    names = [c.name for c in config.cameras]
    if camera is None:
        return names[0]
    if camera not in names:
        raise CalibrationError(f"no camera {camera!r} in the config (cameras: {', '.join(names)})")
    return camera


@dataclass(frozen=True)
class CameraOptics:
    """What calibration does to one camera's frames: optional undistortion, and the scale."""

    camera: str
    calibration: CameraCalibration | None
    undistorter: Undistorter | None

    @property
    def mm_per_px(self) -> float | None:
        return self.calibration.mm_per_px if self.calibration is not None else None

    def prepare(self, frame: np.ndarray) -> np.ndarray:
        """The frame as the detector should see it (undistorted when configured)."""
        return self.undistorter(frame) if self.undistorter is not None else frame


def camera_optics(config: Config, folder: Path, camera: str) -> CameraOptics:
    """The stored calibration of ``camera`` applied as the config asks; an error if undistortion needs a missing calibration."""
    calibration = load_calibration(folder, camera)
    undistorter = None
    if config.calibration.undistort:
        if calibration is None:
            raise CalibrationError(
                f"camera {camera}: calibration.undistort is on but the camera has no calibration in {folder}; "
                "run 'inspector calibrate intrinsics'"
            )
        undistorter = Undistorter(calibration)
    return CameraOptics(camera, calibration, undistorter)


def read_image(path: Path) -> np.ndarray:
    """An image file as a mono8/mono16/BGR8 frame."""
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise CalibrationError(f"cannot read image {path} (missing, or not PNG/BMP/TIFF/JPEG)")
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGRA2BGR)
    return pixels
