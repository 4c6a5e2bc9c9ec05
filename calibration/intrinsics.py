"""Camera intrinsics from checkerboard views, stored per camera; undistortion.

A calibration is computed with OpenCV (``findChessboardCorners`` +
``cornerSubPix`` + ``calibrateCamera``) from several views of a flat
checkerboard, and stored as ``<camera>.json`` in the station's calibration
folder, together with the pixel-to-millimetre scale once it is measured
(:mod:`calibration.scale`). The RMS reprojection error, overall and per view,
is part of the record: it is how an integrator knows the calibration is good
(well under a pixel) or that a view was blurred or the board bent.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from calibration import CalibrationError
from calibration.files import write_json_atomically
from inspector.typed import FieldProblem, from_dict

log = logging.getLogger(__name__)

MIN_VIEWS = 3
_SUBPIX_CRITERIA = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-4)


@dataclass(frozen=True)
class BoardSpec:
    """A checkerboard: inner corners per row (``cols``) and per column (``rows``), square side in mm."""

    cols: int
    rows: int
    square_mm: float

    def object_points(self) -> np.ndarray:
        """The inner corners on the board plane (z = 0), in mm, in OpenCV's detection order."""
        grid = np.mgrid[0 : self.cols, 0 : self.rows].T.reshape(-1, 2)
        points = np.zeros((self.cols * self.rows, 3), np.float32)
        points[:, :2] = grid * self.square_mm
        return points


@dataclass(frozen=True)
class ViewError:
    name: str
    rms_px: float


@dataclass(frozen=True)
class CameraCalibration:
    """What is stored per camera: intrinsics, distortion, their quality, and the scale."""

    camera: str
    image_size: tuple[int, int]  # width, height
    camera_matrix: list[list[float]]
    dist_coeffs: list[float]  # k1, k2, p1, p2, k3
    rms_px: float
    board: BoardSpec
    views: list[ViewError] = field(default_factory=list)
    created_t: float = 0.0
    mm_per_px: float | None = None
    scale_source: str = ""

    @property
    def matrix(self) -> np.ndarray:
        return np.array(self.camera_matrix, np.float64)

    @property
    def distortion(self) -> np.ndarray:
        return np.array(self.dist_coeffs, np.float64)

    def summary(self) -> dict:
        """The few numbers an audit entry keeps."""
        k = self.camera_matrix
        return {
            "fx": round(k[0][0], 3), "fy": round(k[1][1], 3), "cx": round(k[0][2], 3), "cy": round(k[1][2], 3),
            "dist_coeffs": [round(d, 6) for d in self.dist_coeffs],
            "rms_px": round(self.rms_px, 4), "views": len(self.views),
            "mm_per_px": self.mm_per_px, "scale_source": self.scale_source,
        }


def to_gray(image: np.ndarray) -> np.ndarray:
    """8-bit single-channel view of a mono8/mono16/BGR8 image."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return image


def find_board_corners(image: np.ndarray, board: BoardSpec) -> np.ndarray | None:
    """Sub-pixel inner corners (N x 2, float32) of ``board`` in ``image``, or None if it is not fully visible."""
    gray = to_gray(image)
    flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
    found, corners = cv2.findChessboardCorners(gray, (board.cols, board.rows), flags=flags)
    if not found:
        return None
    corners = cv2.cornerSubPix(gray, corners, (5, 5), (-1, -1), _SUBPIX_CRITERIA)
    return corners.reshape(-1, 2)


def calibrate_camera(
    camera: str, views: Iterable[tuple[str, np.ndarray]], board: BoardSpec, fix_k3: bool = True
) -> CameraCalibration:
    """Intrinsics and distortion from named checkerboard views.

    Views where the board is not found are skipped (logged); fewer than
    :data:`MIN_VIEWS` usable views is an error. ``fix_k3`` keeps the sixth-order
    radial term at zero, which is right for all but strongly wide-angle lenses
    and keeps k1/k2 well determined.
    """
    names, image_points, size = [], [], None
    for name, image in views:
        shape = image.shape[1::-1]
        if size is None:
            size = shape
        elif shape != size:
            raise CalibrationError(f"calibration view {name} is {shape[0]}x{shape[1]}, the others are {size[0]}x{size[1]}")
        corners = find_board_corners(image, board)
        if corners is None:
            log.warning("calibration view %s: %dx%d checkerboard not found, skipped", name, board.cols, board.rows)
            continue
        names.append(name)
        image_points.append(corners)
    if len(image_points) < MIN_VIEWS:
        raise CalibrationError(
            f"camera {camera}: the {board.cols}x{board.rows} checkerboard was found in {len(image_points)} view(s); "
            f"at least {MIN_VIEWS} are needed (vary the board's tilt and position)"
        )
    object_points = [board.object_points()] * len(image_points)
    flags = cv2.CALIB_FIX_K3 if fix_k3 else 0
    try:
        rms, matrix, dist, rvecs, tvecs = cv2.calibrateCamera(object_points, image_points, size, None, None, flags=flags)
    except cv2.error as err:
        raise CalibrationError(f"camera {camera}: OpenCV calibration failed: {err}") from err
    view_errors = []
    for name, obj, img, rvec, tvec in zip(names, object_points, image_points, rvecs, tvecs):
        projected, _ = cv2.projectPoints(obj, rvec, tvec, matrix, dist)
        err = float(np.sqrt(np.mean(np.sum((projected.reshape(-1, 2) - img) ** 2, axis=1))))
        view_errors.append(ViewError(name, round(err, 4)))
    log.info("camera %s calibrated from %d views: RMS reprojection error %.3f px", camera, len(names), rms)
    return CameraCalibration(
        camera=camera,
        image_size=(int(size[0]), int(size[1])),
        camera_matrix=matrix.tolist(),
        dist_coeffs=dist.reshape(-1)[:5].tolist(),
        rms_px=float(rms),
        board=board,
        views=view_errors,
        created_t=time.time(),
    )


def calibration_file(folder: str | Path, camera: str) -> Path:
    return Path(folder) / f"{camera}.json"


def save_calibration(calibration: CameraCalibration, folder: str | Path) -> Path:
    return write_json_atomically(calibration_file(folder, calibration.camera), calibration, "calibration")


def load_calibration(folder: str | Path, camera: str) -> CameraCalibration | None:
    """The stored calibration of ``camera``, or None when it was never calibrated."""
    path = calibration_file(folder, camera)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        return from_dict(CameraCalibration, data)
    except OSError as err:
        raise CalibrationError(f"cannot read calibration {path}: {err}") from err
    except ValueError as err:  # JSON syntax, or FieldProblem
        where = f"field {err}" if isinstance(err, FieldProblem) else f"not valid JSON: {err}"
        raise CalibrationError(f"calibration {path}: {where}") from err


def with_scale(calibration: CameraCalibration, mm_per_px: float, source: str) -> CameraCalibration:
    return replace(calibration, mm_per_px=float(mm_per_px), scale_source=source)


class Undistorter:
    """Removes lens distortion with maps computed once per frame size (the same camera matrix is kept)."""

    def __init__(self, calibration: CameraCalibration) -> None:
        self.calibration = calibration
        width, height = calibration.image_size
        self._maps = cv2.initUndistortRectifyMap(
            calibration.matrix, calibration.distortion, None, calibration.matrix, (width, height), cv2.CV_16SC2
        )

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        width, height = self.calibration.image_size
        if frame.shape[1] != width or frame.shape[0] != height:
            raise CalibrationError(
                f"camera {self.calibration.camera}: frame is {frame.shape[1]}x{frame.shape[0]}, "
                f"the calibration is for {width}x{height}"
            )
        return cv2.remap(frame, self._maps[0], self._maps[1], cv2.INTER_LINEAR)

    def points(self, points: np.ndarray) -> np.ndarray:
        """Undistorted pixel positions of distorted ``N x 2`` pixel positions."""
        pts = np.asarray(points, np.float64).reshape(-1, 1, 2)
        out = cv2.undistortPoints(
            pts, self.calibration.matrix, self.calibration.distortion, R=None, P=self.calibration.matrix,
            criteria=(cv2.TERM_CRITERIA_COUNT + cv2.TERM_CRITERIA_EPS, 40, 1e-6),
        )
        return out.reshape(-1, 2)
