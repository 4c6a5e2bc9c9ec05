"""Pixel-to-millimetre scale at the part plane.

Two ways to measure it, both on an image of something of known size lying
where the parts lie (the scale of a fixed camera holds for that plane only):

- the calibration checkerboard: the mean distance between neighbouring inner
  corners is one square side;
- a reference disc (a gauge, a washer, a golden part) of known diameter: the
  diameter of the largest bright (or dark) blob, from an ellipse fit of its
  outline.

With the camera's intrinsics the measured points are undistorted first, so
the scale is the same across the field and matches undistorted frames.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from calibration import CalibrationError
from calibration.intrinsics import BoardSpec, CameraCalibration, Undistorter, find_board_corners, to_gray

log = logging.getLogger(__name__)

MAX_BOARD_SPREAD = 0.03  # relative spread of neighbouring corner distances on a board lying flat


@dataclass(frozen=True)
class ScaleMeasurement:
    mm_per_px: float
    source: str
    spread: float = 0.0  # relative standard deviation of the measured pixel lengths (board); 0 for a disc

    @property
    def px_per_mm(self) -> float:
        return 1.0 / self.mm_per_px


def scale_from_board(image: np.ndarray, board: BoardSpec, calibration: CameraCalibration | None = None) -> ScaleMeasurement:
    """Scale from a checkerboard lying flat on the part plane, facing the camera."""
    corners = find_board_corners(image, board)
    if corners is None:
        raise CalibrationError(f"scale: the {board.cols}x{board.rows} checkerboard is not fully visible in the image")
    if calibration is not None:
        corners = Undistorter(calibration).points(corners)
    grid = corners.reshape(board.rows, board.cols, 2)
    steps = np.concatenate(
        [np.linalg.norm(np.diff(grid, axis=1), axis=2).ravel(), np.linalg.norm(np.diff(grid, axis=0), axis=2).ravel()]
    )
    mean_px = float(steps.mean())
    spread = float(steps.std() / mean_px)
    if spread > MAX_BOARD_SPREAD:
        raise CalibrationError(
            f"scale: the board's squares vary by {spread:.1%} in size across the image (at most {MAX_BOARD_SPREAD:.0%}); "
            "it is tilted, bent, or the lens distortion is not corrected: lay it flat on the part plane"
            + ("" if calibration is not None else " and calibrate the camera first")
        )
    return ScaleMeasurement(board.square_mm / mean_px, f"checkerboard {board.cols}x{board.rows} @ {board.square_mm} mm", spread)


def scale_from_disc(
    image: np.ndarray, diameter_mm: float, calibration: CameraCalibration | None = None, bright: bool = True
) -> ScaleMeasurement:
    """Scale from a reference disc of ``diameter_mm``: the largest ``bright`` (or dark) blob of the image."""
    if diameter_mm <= 0:
        raise CalibrationError(f"scale: the reference diameter must be positive, got {diameter_mm}")
    gray = cv2.GaussianBlur(to_gray(image), (5, 5), 0)
    mode = cv2.THRESH_BINARY if bright else cv2.THRESH_BINARY_INV
    _, mask = cv2.threshold(gray, 0, 255, mode | cv2.THRESH_OTSU)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        raise CalibrationError("scale: no reference object found in the image")
    outline = max(contours, key=cv2.contourArea).reshape(-1, 2).astype(np.float64)
    if len(outline) < 20:
        raise CalibrationError("scale: the reference object is too small in the image to measure")
    if calibration is not None:
        outline = Undistorter(calibration).points(outline)
    (_, _), (axis_a, axis_b), _ = cv2.fitEllipse(outline.astype(np.float32))
    if min(axis_a, axis_b) / max(axis_a, axis_b) < 0.9:
        raise CalibrationError(
            f"scale: the reference object looks like an ellipse ({axis_a:.0f} x {axis_b:.0f} px), not a disc facing the camera"
        )
    diameter_px = (axis_a + axis_b) / 2
    return ScaleMeasurement(diameter_mm / diameter_px, f"reference disc {diameter_mm} mm")
