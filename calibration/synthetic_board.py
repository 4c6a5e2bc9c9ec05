"""Checkerboard views rendered through a known camera: ground truth for calibration.

Each output pixel is traced back through the lens model (OpenCV's inverse
distortion, iterated to convergence), through the pinhole to the board plane
at the given pose, and the board's colour there is sampled; 2 x 2 samples per
pixel anti-alias the edges the way a real sensor integrates light. The
resulting image is what a camera with exactly that matrix and distortion would
see, so a calibration from such views must recover them.
"""

from __future__ import annotations

import cv2
import numpy as np

from calibration.intrinsics import BoardSpec

BLACK, WHITE, BACKGROUND = 25.0, 225.0, 110.0


def board_colour(u: np.ndarray, v: np.ndarray, board: BoardSpec) -> np.ndarray:
    """Grey level at board-plane coordinates (mm; origin at the first inner corner).

    The board has ``cols + 1`` x ``rows + 1`` squares with a white margin of
    one square around them; outside it is the (mid-grey) background.
    """
    s = board.square_mm
    i = np.floor(u / s)
    j = np.floor(v / s)
    on_squares = (i >= -1) & (i <= board.cols - 1) & (j >= -1) & (j <= board.rows - 1)
    on_board = (i >= -2) & (i <= board.cols) & (j >= -2) & (j <= board.rows)
    dark = ((i + j) % 2 == 0) & on_squares
    out = np.full(u.shape, BACKGROUND, np.float32)
    out[on_board] = WHITE
    out[dark] = BLACK
    return out


class BoardRenderer:
    """Renders checkerboard views through one camera (``size`` = width, height).

    The pixel-to-ray mapping depends only on the camera, so it is computed
    once and each pose costs one plane intersection per sample.
    """

    SUBSAMPLES = (-0.25, 0.25)

    def __init__(self, camera_matrix: np.ndarray, dist_coeffs: np.ndarray, size: tuple[int, int]) -> None:
        width, height = size
        self.size = size
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
        criteria = (cv2.TERM_CRITERIA_COUNT + cv2.TERM_CRITERIA_EPS, 40, 1e-9)
        self._rays = []
        for dy in self.SUBSAMPLES:
            for dx in self.SUBSAMPLES:
                pixels = np.stack([xx + dx, yy + dy], axis=-1).reshape(-1, 1, 2)
                normalised = cv2.undistortPoints(
                    pixels, np.asarray(camera_matrix, np.float64), np.asarray(dist_coeffs, np.float64),
                    R=None, P=None, criteria=criteria,
                ).reshape(-1, 2)
                self._rays.append(np.column_stack([normalised, np.ones(len(normalised))]))

    def render(
        self, board: BoardSpec, rvec: np.ndarray, tvec: np.ndarray, noise_sigma: float = 0.0, seed: int = 0
    ) -> np.ndarray:
        """The mono8 image of ``board`` at pose ``rvec, tvec`` (board frame to camera frame, mm)."""
        width, height = self.size
        rot, _ = cv2.Rodrigues(np.asarray(rvec, np.float64))
        # pinhole from the board plane (u, v, 1) to normalised image coordinates; invert it
        plane_to_image = np.column_stack([rot[:, 0], rot[:, 1], np.asarray(tvec, np.float64).reshape(3)])
        image_to_plane = np.linalg.inv(plane_to_image)
        accumulated = np.zeros(width * height, np.float32)
        for rays in self._rays:
            plane = rays @ image_to_plane.T
            u = plane[:, 0] / plane[:, 2]
            v = plane[:, 1] / plane[:, 2]
            colour = board_colour(u, v, board)
            colour[plane[:, 2] <= 0] = BACKGROUND  # behind the camera
            accumulated += colour
        image = (accumulated / len(self._rays)).reshape(height, width)
        if noise_sigma > 0:
            image += np.random.default_rng(seed).normal(0, noise_sigma, image.shape).astype(np.float32)
        return np.clip(np.round(image), 0, 255).astype(np.uint8)


def standard_poses(board: BoardSpec, distance_mm: float, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Twelve poses: the board near each of 3 x 3 places across the field, and three more near the middle,
    each tilted up to 25 degrees about x and y and turned up to 10 degrees in plane."""
    rng = np.random.default_rng(seed)
    centre = np.array([(board.cols - 1) * board.square_mm / 2, (board.rows - 1) * board.square_mm / 2, 0.0])
    places = [(gx, gy) for gy in (-1, 0, 1) for gx in (-1, 0, 1)] + [(0, 0)] * 3
    poses = []
    for gx, gy in places:
        angles = np.radians([rng.uniform(-25, 25), rng.uniform(-25, 25), rng.uniform(-10, 10)])
        rvec = angles.reshape(3, 1)
        rot, _ = cv2.Rodrigues(rvec)
        position = np.array([gx * 0.12 * distance_mm, gy * 0.08 * distance_mm, distance_mm * rng.uniform(0.95, 1.1)])
        tvec = (position - rot @ centre).reshape(3, 1)
        poses.append((rvec, tvec))
    return poses
