"""Write synthetic parts to disk as a YOLO detection dataset."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2

from inspector.synthetic.parts import DEFECT_CLASSES, PartGenerator, SyntheticPart

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SplitSpec:
    """A split: ``count`` parts starting at part index ``first_index``."""

    name: str
    first_index: int
    count: int


def yolo_label_lines(part: SyntheticPart) -> list[str]:
    """One ``class cx cy w h`` line (normalised) per defect of ``part``."""
    h, w = part.image.shape[:2]
    lines = []
    for defect in part.defects:
        x1, y1, x2, y2 = defect.box
        cls = DEFECT_CLASSES.index(defect.cls)
        lines.append(
            f"{cls} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}"
        )
    return lines


def write_yolo_dataset(root: Path, generator: PartGenerator, splits: list[SplitSpec]) -> Path:
    """Render every split under ``root`` and return the path of its ``data.yaml``.

    Part index ranges of the splits must not overlap, so no part is in two splits.
    """
    ranges = sorted((s.first_index, s.first_index + s.count) for s in splits)
    for (_, end), (start, _) in zip(ranges, ranges[1:]):
        if start < end:
            raise ValueError(f"split index ranges overlap: {ranges}")
    for split in splits:
        images = root / "images" / split.name
        labels = root / "labels" / split.name
        images.mkdir(parents=True, exist_ok=True)
        labels.mkdir(parents=True, exist_ok=True)
        for index in range(split.first_index, split.first_index + split.count):
            part = generator.part(index)
            stem = f"part_{index:07d}"
            cv2.imwrite(str(images / f"{stem}.png"), part.image)
            (labels / f"{stem}.txt").write_text("\n".join(yolo_label_lines(part)))
        log.info("wrote %d parts to split %s", split.count, split.name)
    names = "\n".join(f"  {i}: {name}" for i, name in enumerate(DEFECT_CLASSES))
    data_yaml = root / "data.yaml"
    split_lines = "\n".join(f"{s.name}: images/{s.name}" for s in splits)
    data_yaml.write_text(f"path: {root.resolve()}\n{split_lines}\nnames:\n{names}\n")
    return data_yaml
