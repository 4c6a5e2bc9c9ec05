"""Training images for the segmentation family: images, defect maps at the head's resolution, augmentation.

Each dataset image is read once and kept in memory as the model sees it
(grey, resized to the input size, or cut into tiles first). Its target is,
per class, which cells of the head's output grid (``stride`` input pixels
square) hold any defect pixel: a dozen-pixel blowhole still marks a cell.
Images with masks give their pixels; images with boxes only fill their boxes
(:meth:`~inspector.datasets_tool.DatasetImage.read_mask`).

Augmentation (training only): flips up-down and left-right, and a random
gain and offset of the grey levels (lighting changes from part to part).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from inspector.datasets_tool import DatasetImage
from inspector.engine.families.score_maps import ScoreMapSettings, grey_plane, tile_windows


@dataclass(frozen=True)
class Sample:
    """One training view: a grey ``H x W`` image at the input size and its ``C x h x w`` cell targets."""

    grey: np.ndarray
    target: np.ndarray
    defective: bool
    source: str


def cell_targets(class_mask: np.ndarray, classes: int, grid_hw: tuple[int, int]) -> np.ndarray:
    """Per class, 1 where a cell of the ``grid_hw`` grid over ``class_mask`` holds any pixel of that class."""
    target = np.zeros((classes, *grid_hw), np.float32)
    for c in range(classes):
        plane = (class_mask == c + 1).astype(np.float32)
        if plane.any():
            target[c] = cv2.resize(plane, (grid_hw[1], grid_hw[0]), interpolation=cv2.INTER_AREA) > 0
    return target


def load_samples(
    images: list[DatasetImage], classes: list[str], input_hw: tuple[int, int], stride: int,
    tiles: tuple[int, int], overlap: float, merge_classes: bool,
) -> list[Sample]:
    """Every tile of every image, resized to the input size, with its targets."""
    grid = (input_hw[0] // stride, input_hw[1] // stride)
    samples = []
    for image in images:
        frame = image.read()
        grey = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        if grey.dtype == np.uint16:
            grey = (grey >> 8).astype(np.uint8)
        mask = image.read_mask(classes, grey.shape[:2]) if image.defective else np.zeros(grey.shape[:2], np.uint8)
        if merge_classes:
            mask = (mask > 0).astype(np.uint8)
        for y0, y1, x0, x1 in tile_windows(grey.shape[:2], tiles, overlap):
            tile = cv2.resize(grey[y0:y1, x0:x1], (input_hw[1], input_hw[0]), interpolation=cv2.INTER_AREA)
            tile_mask = cv2.resize(mask[y0:y1, x0:x1], (input_hw[1], input_hw[0]), interpolation=cv2.INTER_NEAREST)
            target = cell_targets(tile_mask, 1 if merge_classes else len(classes), grid)
            samples.append(Sample(tile, target, bool(target.any()), image.source or image.path.name))
    return samples


def augmented(
    sample: Sample, rng: np.random.Generator, gain: float, offset: float, feed: ScoreMapSettings
) -> tuple[np.ndarray, np.ndarray]:
    """A randomly flipped, relit copy of ``sample``: the model input ``3 x H x W`` and the target."""
    grey, target = sample.grey, sample.target
    if rng.random() < 0.5:
        grey, target = grey[::-1], target[:, ::-1]
    if rng.random() < 0.5:
        grey, target = grey[:, ::-1], target[:, :, ::-1]
    g = rng.uniform(1 - gain, 1 + gain) if gain else 1.0
    o = rng.uniform(-offset, offset) if offset else 0.0
    relit = np.rint(np.clip(grey.astype(np.float32) * g + o, 0, 255))
    return as_input(relit, feed), np.ascontiguousarray(target)


def as_input(grey: Any, feed: ScoreMapSettings) -> np.ndarray:
    """A grey image (0..255) at the input size as the model's ``3 x H x W`` input, as the line's family makes it."""
    plane = grey_plane(np.asarray(grey), feed)
    return np.ascontiguousarray(np.broadcast_to(plane, (3, *plane.shape)))
