"""Export reviewed images as a YOLO detection dataset version (what ultralytics training accepts).

The review screen's "Export" and the retraining's first step: the labelled parts come from the station
database (:meth:`inspector.records.station.StationDatabase.labelled_parts`).

Layout of one version, ``<out>/<version>/``::

    images/train/*.png  images/val/*.png
    labels/train/*.txt  labels/val/*.txt     one "class cx cy w h" line per box (normalised); empty for good parts
    data.yaml                                path, train, val, names
    manifest.json                            version, classes, and per image: part, label, boxes, sha256, split

The version is ``reviewed-`` and the first 12 hex digits of a SHA-256 over
the classes and every image's content hash and label lines, so the same
reviewed content always exports to the same version and any change to an
image or a label gives a new one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import cv2

from inspector.datasets_tool.manifest import DatasetError
from inspector.engine.model_package import sha256_of
from inspector.records.parts import PartRecord

log = logging.getLogger(__name__)

VAL_EVERY = 5  # about one image in five goes to validation, chosen by content hash


@dataclass(frozen=True)
class ExportResult:
    version: str
    path: Path
    data_yaml: Path
    images: int
    train: int
    val: int


def label_lines(part: PartRecord, classes: list[str], width: int, height: int) -> list[str]:
    lines = []
    for b in part.label_boxes:
        if b.cls not in classes:
            raise DatasetError(f"part {part.part_id}: box class {b.cls!r} is not one of the dataset's classes {classes}")
        x1, x2 = max(0.0, b.x1), min(float(width), b.x2)
        y1, y2 = max(0.0, b.y1), min(float(height), b.y2)
        if x2 <= x1 or y2 <= y1:
            raise DatasetError(f"part {part.part_id}: a {b.cls} box lies outside the {width}x{height} image")
        lines.append(
            f"{classes.index(b.cls)} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} {(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}"
        )
    return lines


def export_dataset(parts: list[PartRecord], classes: list[str], out_root: Path, source: str = "") -> ExportResult:
    """Write the labelled ``parts`` as a new dataset version under ``out_root`` (or find it already there)."""
    if not parts:
        raise DatasetError("nothing to export: no image has been reviewed yet")
    items = []
    for part in sorted(parts, key=lambda p: p.key):
        if part.label is None:
            raise DatasetError(f"part {part.part_id} has no label")
        if not part.image_path or not Path(part.image_path).is_file():
            raise DatasetError(f"part {part.part_id}: {part.image_note or f'image {part.image_path} is missing'}")
        image = cv2.imread(part.image_path, cv2.IMREAD_UNCHANGED)
        if image is None:
            raise DatasetError(f"part {part.part_id}: cannot read image {part.image_path}")
        height, width = image.shape[:2]
        lines = label_lines(part, classes, width, height)
        if part.label == "defective" and not lines:
            raise DatasetError(f"part {part.part_id} is labelled defective but has no box")
        sha = sha256_of(Path(part.image_path))
        stem = f"{part.camera}_{part.part_id:010d}"
        split = "val" if int(sha[:8], 16) % VAL_EVERY == 0 else "train"
        items.append({"stem": stem, "split": split, "sha256": sha, "lines": lines, "part": part, "size": [width, height]})
    if len(items) > 1 and not any(i["split"] == "val" for i in items):
        items[-1]["split"] = "val"
    if not any(i["split"] == "train" for i in items):
        items[0]["split"] = "train"
    content = hashlib.sha256(json.dumps([classes, [[i["stem"], i["sha256"], i["lines"]] for i in items]]).encode()).hexdigest()
    version = f"reviewed-{content[:12]}"
    root = out_root / version
    data_yaml = root / "data.yaml"
    counts = {s: sum(i["split"] == s for i in items) for s in ("train", "val")}
    result = ExportResult(version, root, data_yaml, len(items), counts["train"], counts["val"])
    if (root / "manifest.json").is_file():
        log.info("dataset version %s exists already at %s", version, root)
        return result
    staging = out_root / f".{version}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for item in items:
            for kind in ("images", "labels"):
                (staging / kind / item["split"]).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(item["part"].image_path, staging / "images" / item["split"] / f"{item['stem']}.png")
            (staging / "labels" / item["split"] / f"{item['stem']}.txt").write_text("\n".join(item["lines"]) + ("\n" if item["lines"] else ""))
        val_dir = "images/val" if counts["val"] else "images/train"
        names = "\n".join(f"  {i}: {name}" for i, name in enumerate(classes))
        (staging / "data.yaml").write_text(f"path: {root.resolve()}\ntrain: images/train\nval: {val_dir}\nnames:\n{names}\n")
        manifest = {
            "version": version,
            "format": "yolo-detection",
            "created": time.time(),
            "source_database": source,
            "classes": classes,
            "content_sha256": content,
            "splits": counts,
            "images": [
                {
                    "file": f"images/{i['split']}/{i['stem']}.png", "split": i["split"], "sha256": i["sha256"], "size": i["size"],
                    "camera": i["part"].camera, "part_id": i["part"].part_id, "line_result": i["part"].result,
                    "model_version": i["part"].model_version, "label": i["part"].label,
                    "boxes": [b.to_json() for b in i["part"].label_boxes],
                }
                for i in items
            ],
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
        staging.rename(root)
    except OSError as err:
        shutil.rmtree(staging, ignore_errors=True)
        raise DatasetError(f"cannot export the dataset to {root}: {err}") from err
    log.info("exported %d image(s) as dataset version %s to %s", len(items), version, root)
    return result
