"""Image folders a folder camera replays in a chaos case: bad images, and damaged ones that must never PASS."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from inspector.synthetic import PartGenerator

HUGE_SIDE = 10_000


def bad_image_folder(folder: Path, count: int) -> list[Path]:
    """Good parts, with a blank, a saturated, a truncated, a corrupt and a 16 x 1024 ribbon image among them."""
    folder.mkdir(parents=True)
    generator = PartGenerator(seed=77)
    for i in range(count):
        cv2.imwrite(str(folder / f"{i:04d}_good.png"), generator.part(i).image)
    good = generator.part(0).image
    cv2.imwrite(str(folder / "0003_blank.png"), np.zeros_like(good))
    saturated = good.copy()
    saturated[:, :500] = 255
    cv2.imwrite(str(folder / "0006_saturated.png"), saturated)
    cv2.imwrite(str(folder / "0009_whole.jpg"), good)
    data = (folder / "0009_whole.jpg").read_bytes()
    (folder / "0009_truncated.jpg").write_bytes(data[: len(data) // 2])
    (folder / "0012_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(5000))
    middle = good.shape[0] // 2
    cv2.imwrite(str(folder / "0015_ribbon.png"), np.tile(good[middle - 8 : middle + 8], (1, 2))[:, :1024])
    return []


def damaged_image_folder(folder: Path, count: int) -> list[Path]:
    """``count`` files in replay order: good parts, with JPEGs of defective parts cut at half their length and an
    end-of-image marker appended (every third file), and one 10000 x 10000 PNG; the damaged files."""
    folder.mkdir(parents=True)
    generator = PartGenerator(seed=78, defect_rate=0.5)
    defective = (i for i in range(10 * count) if generator.is_defective(i))
    damaged = []
    for i in range(count):
        if i == count // 2:
            path = folder / f"{i:04d}_huge.png"
            cv2.imwrite(str(path), np.full((HUGE_SIDE, HUGE_SIDE), 128, np.uint8))
            damaged.append(path)
        elif i % 3 == 2:
            path = folder / f"{i:04d}_cut.jpg"
            ok, encoded = cv2.imencode(".jpg", generator.part(next(defective)).image)
            data = encoded.tobytes()
            path.write_bytes(data[: len(data) // 2] + b"\xff\xd9")
            damaged.append(path)
        else:
            cv2.imwrite(str(folder / f"{i:04d}_good.png"), generator.part(i).image)
    return damaged
