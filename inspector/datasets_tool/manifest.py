"""Inspector's dataset format: one folder that ultralytics trains from and the evaluator reads.

Layout of a dataset folder::

    images/<split>/<name>.<ext>   the source image, byte for byte (no re-encoding)
    labels/<split>/<name>.txt     YOLO detection labels, one "class cx cy w h" line (normalised) per box;
                                  empty for a good image
    masks/<split>/<stem>.png      the defect pixels as class numbers (0 good, n = the n-th class), for
                                  images imported with masks (segmentation training); other images'
                                  boxes stand in for masks
    <split>.txt                   the images ultralytics sees for that split, one "./images/..." line each
                                  (a defective image without any box is left out: to a detector it would
                                  look like a good part; the evaluator still uses it)
    data.yaml                     what ultralytics trains from: path, train, val, test, names
    manifest.json                 version, classes, and per image: source, split, good/defective, classes,
                                  boxes (pixels), sha256; the import's problems per file

The version is the dataset's name and the first 12 hex digits of
``content_sha256``, a SHA-256 over the classes and, per image, its file name,
content hash, good/defective label, classes, label lines and mask hash: the same content
always gives the same version, any change to an image or a label a new one.

The review screen's export (:mod:`.export`) writes the same ``images/ labels/
data.yaml manifest.json`` layout with the same per-image keys (``file``,
``split``, ``sha256``, ``label``, ``boxes``), so :func:`load_dataset` reads
both.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from inspector.errors import InspectorError

FORMAT = "inspector-dataset/1"
SPLITS = ("train", "val", "test")
UNSPECIFIED_CLASS = "unspecified"  # image-level class of a defective image whose source named none


class DatasetError(InspectorError):
    """A dataset could not be imported or read (missing folder, bad manifest, unreadable image)."""


@dataclass(frozen=True)
class LabelBox:
    """A labelled defect box in image pixels (x1 < x2, y1 < y2)."""

    cls: str
    x1: float
    y1: float
    x2: float
    y2: float

    def to_json(self) -> dict[str, Any]:
        return {"cls": self.cls, "box": [round(v, 2) for v in (self.x1, self.y1, self.x2, self.y2)]}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "LabelBox":
        x1, y1, x2, y2 = (float(v) for v in raw["box"])
        return cls(str(raw["cls"]), min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))

    def yolo_line(self, class_index: int, width: int, height: int) -> str:
        cx, cy = (self.x1 + self.x2) / 2 / width, (self.y1 + self.y2) / 2 / height
        return f"{class_index} {cx:.6f} {cy:.6f} {(self.x2 - self.x1) / width:.6f} {(self.y2 - self.y1) / height:.6f}"


@dataclass(frozen=True)
class DatasetImage:
    """One image of a dataset, as the evaluator needs it."""

    path: Path
    split: str
    defective: bool
    classes: frozenset[str]
    boxes: tuple[LabelBox, ...] = ()
    source: str = ""
    mask: Path | None = None  # PNG of class numbers (0 good, n = the n-th class), when the source had masks

    def read(self) -> np.ndarray:
        """The image as the line's camera would deliver it (mono8 stays 2-D, colour is BGR)."""
        import cv2

        image = cv2.imread(str(self.path), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise DatasetError(f"cannot read image {self.path}")
        if image.ndim == 3 and image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        return image

    def read_mask(self, classes: list[str], shape: tuple[int, int]) -> np.ndarray:
        """The defect pixels as class numbers (0 good, n = ``classes[n - 1]``), ``shape`` (height, width).

        From the dataset's mask where there is one; else each labelled box is
        filled (a box is all a detector's label says); a good image is all 0.
        """
        import cv2

        if self.mask is not None:
            mask = cv2.imread(str(self.mask), cv2.IMREAD_GRAYSCALE)
            if mask is None:
                raise DatasetError(f"cannot read mask {self.mask}")
            if mask.shape != tuple(shape):
                raise DatasetError(f"mask {self.mask} is {mask.shape[1]}x{mask.shape[0]}, its image {shape[1]}x{shape[0]}")
            return mask
        mask = np.zeros(shape, np.uint8)
        for box in self.boxes:
            x1, y1 = int(np.floor(box.x1)), int(np.floor(box.y1))
            x2, y2 = int(np.ceil(box.x2)), int(np.ceil(box.y2))
            mask[max(y1, 0) : max(y2, y1 + 1), max(x1, 0) : max(x2, x1 + 1)] = classes.index(box.cls) + 1
        return mask


@dataclass(frozen=True)
class Dataset:
    root: Path
    version: str
    classes: list[str]
    images: list[DatasetImage]
    manifest: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def data_yaml(self) -> Path:
        return self.root / "data.yaml"

    @property
    def splits(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for image in self.images:
            counts[image.split] = counts.get(image.split, 0) + 1
        return counts

    def split(self, name: str) -> list[DatasetImage]:
        chosen = [i for i in self.images if i.split == name]
        if not chosen:
            raise DatasetError(f"dataset {self.version} has no image in split {name!r} (splits: {self.splits})")
        return chosen

    def samples(self, name: str) -> Iterator[tuple[np.ndarray, frozenset[str]]]:
        """``(image, true defect classes)`` of every image of a split; good images have no class."""
        for image in self.split(name):
            yield image.read(), image.classes

    def summary(self) -> dict[str, Any]:
        """What a model's metadata records about the data it came from."""
        return {
            "version": self.version,
            "path": str(self.root),
            "content_sha256": self.manifest.get("content_sha256", ""),
            "format": self.manifest.get("format", ""),
            "classes": list(self.classes),
            "splits": self.splits,
        }


def content_hash(classes: list[str], entries: list[dict[str, Any]]) -> str:
    """SHA-256 over the classes and every image's name, content hash, label, classes and label lines."""
    items = [
        [e["file"], e["sha256"], e["label"], sorted(e["classes"]), e["lines"]] + ([e["mask_sha256"]] if e.get("mask_sha256") else [])
        for e in entries
    ]
    return hashlib.sha256(json.dumps([classes, items]).encode()).hexdigest()


def load_dataset(root: str | Path) -> Dataset:
    """Read a dataset folder (written by ``inspector dataset import`` or the HMI's export)."""
    root = Path(root)
    path = root / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except OSError as err:
        raise DatasetError(f"dataset manifest {path} cannot be read: {err.strerror}") from err
    except ValueError as err:
        raise DatasetError(f"dataset manifest {path} is not valid JSON: {err}") from err
    try:
        classes = [str(c) for c in manifest["classes"]]
        version = str(manifest["version"])
        images = [_image_from_manifest(root, raw) for raw in manifest["images"]]
    except (KeyError, TypeError, ValueError) as err:
        raise DatasetError(f"dataset manifest {path} is malformed: {err!r}") from err
    return Dataset(root, version, classes, images, manifest)


def _image_from_manifest(root: Path, raw: dict[str, Any]) -> DatasetImage:
    boxes = tuple(LabelBox.from_json(b) for b in raw.get("boxes", []))
    defective = raw["label"] == "defective"
    classes = frozenset(raw.get("classes") or {b.cls for b in boxes})
    if defective and not classes:
        classes = frozenset({UNSPECIFIED_CLASS})
    if not defective:
        classes = frozenset()
    mask = root / raw["mask"] if raw.get("mask") else None
    return DatasetImage(root / raw["file"], str(raw["split"]), defective, classes, boxes, str(raw.get("source", "")), mask)
