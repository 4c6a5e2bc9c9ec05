"""Camera intrinsics from checkerboards rendered through a camera with known matrix and distortion.

Ground truth: fx 800, fy 790, cx 330, cy 235 px; k1 -0.25, k2 0.08, p1 0.001,
p2 -0.0015 (k3 0); 640 x 480 frames; a 9 x 6 board of 25 mm squares at about
500 mm in 12 poses (3 x 3 places across the field plus 3 central, tilted up to
25 degrees), sensor noise sigma 1.5 grey levels.

Stated tolerances: focal lengths within 0.5 %, principal point within 3 px,
k1 within 0.01, k2 within 0.02, p1 and p2 within 0.001, RMS reprojection error
below 0.3 px.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from calibration import CalibrationError
from calibration.intrinsics import (
    BoardSpec, CameraCalibration, Undistorter, calibrate_camera, find_board_corners, load_calibration, save_calibration,
)
from calibration.synthetic_board import BoardRenderer, standard_poses

K_TRUE = np.array([[800.0, 0.0, 330.0], [0.0, 790.0, 235.0], [0.0, 0.0, 1.0]])
DIST_TRUE = np.array([-0.25, 0.08, 0.001, -0.0015, 0.0])
SIZE = (640, 480)
BOARD = BoardSpec(9, 6, 25.0)


@pytest.fixture(scope="module")
def renderer() -> BoardRenderer:
    return BoardRenderer(K_TRUE, DIST_TRUE, SIZE)


@pytest.fixture(scope="module")
def views(renderer) -> list[tuple[str, np.ndarray]]:
    return [
        (f"view-{i:02d}.png", renderer.render(BOARD, rvec, tvec, noise_sigma=1.5, seed=i))
        for i, (rvec, tvec) in enumerate(standard_poses(BOARD, 500.0))
    ]


@pytest.fixture(scope="module")
def recovered(views) -> CameraCalibration:
    return calibrate_camera("top", views, BOARD)


def test_every_rendered_view_shows_the_whole_board(views):
    assert all(find_board_corners(image, BOARD) is not None for _, image in views)


def test_focal_lengths_are_recovered_within_half_a_percent(recovered):
    k = recovered.matrix
    assert k[0, 0] == pytest.approx(800.0, rel=0.005)
    assert k[1, 1] == pytest.approx(790.0, rel=0.005)


def test_principal_point_is_recovered_within_3_px(recovered):
    k = recovered.matrix
    assert abs(k[0, 2] - 330.0) < 3.0
    assert abs(k[1, 2] - 235.0) < 3.0


def test_distortion_is_recovered_k1_within_0_01_k2_within_0_02_tangential_within_0_001(recovered):
    k1, k2, p1, p2, k3 = recovered.dist_coeffs
    assert k1 == pytest.approx(-0.25, abs=0.01)
    assert k2 == pytest.approx(0.08, abs=0.02)
    assert p1 == pytest.approx(0.001, abs=0.001)
    assert p2 == pytest.approx(-0.0015, abs=0.001)
    assert k3 == 0.0  # fixed by default


def test_reprojection_error_is_reported_overall_and_per_view_below_0_3_px(recovered, views):
    assert 0.0 < recovered.rms_px < 0.3
    assert [v.name for v in recovered.views] == [name for name, _ in views]
    assert all(0.0 < v.rms_px < 0.3 for v in recovered.views)


def test_undistorting_with_the_recovered_model_straightens_the_board_lines(renderer, recovered):
    """A fronto-parallel board's rows and columns are straight: after undistortion their corners lie
    within 0.45 px of a fitted line, and the RMS residual is under half of the distorted image's."""
    rvec = np.zeros((3, 1))
    tvec = np.array([[-100.0], [-62.5], [430.0]])
    image = renderer.render(BOARD, rvec, tvec, noise_sigma=1.5, seed=99)

    def line_residuals(img: np.ndarray) -> np.ndarray:
        corners = find_board_corners(img, BOARD)
        assert corners is not None
        grid = corners.reshape(BOARD.rows, BOARD.cols, 2)
        residuals = []
        for line in [*grid, *grid.transpose(1, 0, 2)]:
            vx, vy, x0, y0 = cv2.fitLine(line.astype(np.float32), cv2.DIST_L2, 0, 0.01, 0.01).ravel()
            residuals.extend((line[:, 0] - x0) * vy - (line[:, 1] - y0) * vx)
        return np.abs(np.array(residuals))

    before = line_residuals(image)
    after = line_residuals(Undistorter(recovered)(image))
    assert before.max() > 1.0  # the lens bends the lines visibly
    assert after.max() < 0.45
    assert np.sqrt(np.mean(after**2)) < 0.5 * np.sqrt(np.mean(before**2))


def test_a_calibration_is_stored_per_camera_and_read_back_unchanged(tmp_path, recovered):
    path = save_calibration(recovered, tmp_path / "cal")
    assert path.name == "top.json"
    assert load_calibration(tmp_path / "cal", "top") == recovered
    assert load_calibration(tmp_path / "cal", "side") is None


def test_a_damaged_calibration_file_is_an_error_naming_it(tmp_path, recovered):
    path = save_calibration(recovered, tmp_path)
    data = json.loads(path.read_text())
    data["rms"] = data.pop("rms_px")
    path.write_text(json.dumps(data))
    with pytest.raises(CalibrationError, match="top.json"):
        load_calibration(tmp_path, "top")


def test_too_few_views_with_the_board_is_an_error_saying_how_many_were_found(views):
    blank = np.full((480, 640), 128, np.uint8)
    with pytest.raises(CalibrationError, match="found in 2 view"):
        calibrate_camera("top", [views[0], views[1], ("blank.png", blank)], BOARD)


def test_undistorting_a_frame_of_another_size_is_refused(recovered):
    with pytest.raises(CalibrationError, match="640x480"):
        Undistorter(recovered)(np.zeros((240, 320), np.uint8))
