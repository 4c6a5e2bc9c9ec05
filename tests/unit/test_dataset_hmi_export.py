"""A dataset version exported by the HMI's review screen is read like an imported one."""

from __future__ import annotations

import cv2
import numpy as np

from inspector.datasets_tool import load_dataset
from inspector.datasets_tool.export import export_dataset
from inspector.records.parts import Box, PartRecord


def part(tmp_path, part_id: int, label: str, boxes: list[Box]) -> PartRecord:
    image = np.full((48, 64), 40 + part_id, np.uint8)
    path = tmp_path / "store" / f"{part_id}.png"
    path.parent.mkdir(exist_ok=True)
    cv2.imwrite(str(path), image)
    return PartRecord("top", part_id, "REJECT", "synthetic", 0.0, 1.0, [], str(path), "m@1", True, label=label, label_boxes=boxes)


def test_the_hmi_export_layout_loads_with_truth_and_splits(tmp_path):
    parts = [part(tmp_path, i, "good", []) for i in range(6)]
    parts += [part(tmp_path, 10 + i, "defective", [Box("dent", 5, 6, 20, 30)]) for i in range(4)]
    exported = export_dataset(parts, ["scratch", "dent"], tmp_path / "exports")
    dataset = load_dataset(exported.path)
    assert dataset.version == exported.version
    assert dataset.classes == ["scratch", "dent"]
    assert sum(dataset.splits.values()) == 10 and set(dataset.splits) <= {"train", "val"}
    defective = [i for i in dataset.images if i.defective]
    assert len(defective) == 4 and all(i.classes == {"dent"} for i in defective)
    assert all(i.boxes[0].x1 == 5 and i.boxes[0].y2 == 30 for i in defective)
    image, classes = next(dataset.samples(dataset.images[0].split))
    assert image.shape == (48, 64) and isinstance(classes, frozenset)
