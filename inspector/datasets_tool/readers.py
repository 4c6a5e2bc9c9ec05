"""Readers of common labelled-image layouts, each turning a source folder into :class:`SourceImage` records.

- ``masks``: folders of images, one folder per class, with a mask PNG beside
  each defective image (the magnetic-tile layout). The class is the folder
  name; folders named like ``good``/``free``/``ok`` hold good parts.
- ``yolo``: YOLO detection (``class cx cy w h``) or segmentation
  (``class x1 y1 x2 y2 ...``, polygon; its extent becomes the box) labels, in
  ``labels/`` beside ``images/`` or next to each image; class names from
  ``data.yaml`` (or ``classes.txt``).
- ``voc``: Pascal VOC XML annotations (``Annotations/`` + ``JPEGImages/`` or
  XML beside the images).

A problem with one file (unreadable image, bad label line, missing mask) is a
:class:`Problem` for that file; it never stops the import.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import yaml

from inspector.datasets_tool.manifest import DatasetError, LabelBox

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
GOOD_FOLDER_NAMES = ("good", "ok", "free", "normal", "defect-free", "defect_free", "pass")
SPLIT_ALIASES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
COORD_TOLERANCE = 1e-3  # normalised label coordinates this far outside [0, 1] are clipped, not refused


@dataclass
class SourceImage:
    """One image found in a source layout, with its truth."""

    path: Path
    stem: str
    defective: bool
    classes: frozenset[str]
    boxes: list[LabelBox]
    size: tuple[int, int]  # width, height
    split_hint: str | None = None  # the split the source layout put it in, if any
    trainable: bool = True  # False: defective but without a box (kept for evaluation only)
    dropped_specks: int = 0
    mask: np.ndarray | None = field(default=None, repr=False)  # masks layout: the defect pixels (specks removed)


@dataclass(frozen=True)
class Problem:
    """Something wrong with one source file; ``action`` says what the import did about it."""

    file: str
    problem: str
    action: str  # "skipped" (not imported) or "kept" (imported, as described)

    def to_json(self) -> dict[str, str]:
        return {"file": self.file, "problem": self.problem, "action": self.action}


@dataclass(frozen=True)
class ReaderOptions:
    classes: tuple[str, ...] = ()  # class order; empty = as the source names them
    good_folders: tuple[str, ...] = GOOD_FOLDER_NAMES  # masks layout: folder names (after strip_prefix) of good parts
    strip_prefix: str = ""  # masks layout: prefix removed from folder names before they become class names
    mask_threshold: int = 128
    min_component_px: int = 8  # masks layout: smaller mask regions are specks, not defects


@dataclass
class ReadResult:
    images: list[SourceImage] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS


def _read_size(path: Path) -> tuple[int, int] | None:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        return None
    return int(image.shape[1]), int(image.shape[0])


def _rel(path: Path, source: Path) -> str:
    return path.relative_to(source).as_posix()


# ---------------------------------------------------------------- masks


def mask_regions(mask: np.ndarray, cls: str, threshold: int, min_px: int) -> tuple[list[LabelBox], int, np.ndarray]:
    """One box per connected region of ``mask >= threshold`` (8-connected); regions under ``min_px`` are specks.

    Returns the boxes, the number of specks dropped, and the defect pixels
    without the specks (a 0/1 ``uint8`` image).
    """
    if mask.ndim == 3:
        mask = mask.max(axis=2)
    if mask.dtype != np.uint8:
        mask = (mask.astype(np.float64) * 255 / max(float(mask.max()), 1.0)).astype(np.uint8)
    binary = (mask >= threshold).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    boxes, specks = [], 0
    for label, (x, y, w, h, area) in enumerate(stats[1:].tolist(), 1):
        if area < min_px:
            specks += 1
            binary[labels == label] = 0
            continue
        boxes.append(LabelBox(cls, float(x), float(y), float(x + w), float(y + h)))
    return boxes, specks, binary


def mask_boxes(mask: np.ndarray, cls: str, threshold: int, min_px: int) -> tuple[list[LabelBox], int]:
    """The boxes and the number of specks of :func:`mask_regions`."""
    boxes, specks, _ = mask_regions(mask, cls, threshold, min_px)
    return boxes, specks


def _mask_for(image: Path) -> Path | None:
    for candidate in (image.with_suffix(".png"), image.with_name(f"{image.stem}_mask.png")):
        if candidate != image and candidate.is_file():
            return candidate
    return None


def read_masks(source: Path, options: ReaderOptions) -> ReadResult:
    result = ReadResult()
    files = sorted(p for p in source.rglob("*") if _is_image(p))
    masks = {m for m in (_mask_for(p) for p in files) if m is not None}
    good_names = {g.lower() for g in options.good_folders}
    for path in files:
        if path in masks or path.stem.endswith("_mask"):
            continue
        rel = path.relative_to(source)
        if len(rel.parts) < 2:
            result.problems.append(Problem(rel.as_posix(), "image is not inside a class folder", "skipped"))
            continue
        folder = rel.parts[0]
        name = folder[len(options.strip_prefix):] if options.strip_prefix and folder.startswith(options.strip_prefix) else folder
        name = name.lower()
        size = _read_size(path)
        if size is None:
            result.problems.append(Problem(rel.as_posix(), "cannot read the image", "skipped"))
            continue
        mask_path = _mask_for(path)
        mask = cv2.imread(str(mask_path), cv2.IMREAD_UNCHANGED) if mask_path else None
        if mask_path is not None and mask is None:
            result.problems.append(Problem(_rel(mask_path, source), "cannot read the mask", "kept"))
        if mask is not None and (mask.shape[1], mask.shape[0]) != size:
            result.problems.append(
                Problem(_rel(mask_path, source), f"mask is {mask.shape[1]}x{mask.shape[0]}, image is {size[0]}x{size[1]}", "kept")
            )
            mask = None
        if name in good_names:
            if mask is not None and mask_boxes(mask, name, options.mask_threshold, options.min_component_px)[0]:
                result.problems.append(
                    Problem(rel.as_posix(), f"image of good folder {folder!r} has a non-empty mask; imported as good", "kept")
                )
            result.images.append(SourceImage(path, path.stem, False, frozenset(), [], size))
            continue
        boxes, specks, pixels = (
            mask_regions(mask, name, options.mask_threshold, options.min_component_px) if mask is not None else ([], 0, None)
        )
        image = SourceImage(
            path, path.stem, True, frozenset({name}), boxes, size, trainable=bool(boxes), dropped_specks=specks,
            mask=pixels if boxes else None,
        )
        if not boxes:
            why = "no mask" if mask_path is None or mask is None else f"mask has no region of {options.min_component_px} px or more"
            result.problems.append(
                Problem(rel.as_posix(), f"{why}: imported as defective ({name}) for evaluation, left out of training", "kept")
            )
        result.images.append(image)
        if name not in result.classes:
            result.classes.append(name)
    result.classes.sort()
    return result


# ---------------------------------------------------------------- yolo


def _yolo_names(source: Path) -> list[str] | None:
    for candidate in [source / "data.yaml", source / "dataset.yaml", *sorted(source.glob("*.yaml"))]:
        if not candidate.is_file():
            continue
        try:
            raw = yaml.safe_load(candidate.read_text())
        except (OSError, yaml.YAMLError) as err:
            raise DatasetError(f"{candidate} cannot be read as YAML: {err}") from err
        names = raw.get("names") if isinstance(raw, dict) else None
        if isinstance(names, dict):
            return [str(names[k]) for k in sorted(names, key=int)]
        if isinstance(names, list):
            return [str(n) for n in names]
    classes_txt = source / "classes.txt"
    if classes_txt.is_file():
        return [line.strip() for line in classes_txt.read_text().splitlines() if line.strip()]
    return None


def _label_path(image: Path, source: Path) -> tuple[Path, str | None]:
    parts = list(image.relative_to(source).parts)
    if "images" in parts:
        i = len(parts) - 1 - parts[::-1].index("images")
        hint = SPLIT_ALIASES.get(parts[i + 1].lower()) if i + 2 < len(parts) else None
        parts[i] = "labels"
        return (source / Path(*parts)).with_suffix(".txt"), hint
    return image.with_suffix(".txt"), None


def parse_yolo_line(line: str, names: list[str], width: int, height: int) -> LabelBox:
    """A detection (5 numbers) or segmentation (class + polygon) line as a pixel box; ValueError if bad."""
    tokens = line.split()
    if len(tokens) < 5:
        raise ValueError(f"expected 5 numbers (detection) or class + polygon (segmentation), got {len(tokens)}")
    try:
        cid = int(tokens[0])
        values = [float(t) for t in tokens[1:]]
    except ValueError:
        raise ValueError(f"not numbers: {line.strip()!r}") from None
    if not 0 <= cid < len(names):
        raise ValueError(f"class {cid} is not one of the {len(names)} classes")
    if any(v < -COORD_TOLERANCE or v > 1 + COORD_TOLERANCE for v in values):
        raise ValueError("coordinates outside 0..1 (labels must be normalised)")
    values = [min(max(v, 0.0), 1.0) for v in values]
    if len(values) == 4:
        cx, cy, w, h = values
        x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
    elif len(values) % 2 == 0 and len(values) >= 6:
        xs, ys = values[0::2], values[1::2]
        x1, y1, x2, y2 = min(xs), min(ys), max(xs), max(ys)
    else:
        raise ValueError(f"a polygon needs an even number of coordinates (at least 6), got {len(values)}")
    x1, x2 = max(0.0, x1) * width, min(1.0, x2) * width
    y1, y2 = max(0.0, y1) * height, min(1.0, y2) * height
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        raise ValueError("box has no area")
    return LabelBox(names[cid], x1, y1, x2, y2)


def read_yolo(source: Path, options: ReaderOptions) -> ReadResult:
    names = _yolo_names(source) or list(options.classes)
    if not names:
        raise DatasetError(f"{source}: no class names (no data.yaml with 'names', no classes.txt); pass the classes")
    result = ReadResult(classes=list(names))
    for path in sorted(p for p in source.rglob("*") if _is_image(p)):
        rel = _rel(path, source)
        label_path, hint = _label_path(path, source)
        size = _read_size(path)
        if size is None:
            result.problems.append(Problem(rel, "cannot read the image", "skipped"))
            continue
        if not label_path.is_file():
            result.problems.append(Problem(rel, f"no label file {_rel(label_path, source)}: imported as a good image", "kept"))
            result.images.append(SourceImage(path, path.stem, False, frozenset(), [], size, hint))
            continue
        boxes, bad = [], []
        for number, line in enumerate(label_path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                boxes.append(parse_yolo_line(line, names, *size))
            except ValueError as err:
                bad.append(f"line {number}: {err}")
        if bad:
            result.problems.append(Problem(_rel(label_path, source), "; ".join(bad), "skipped"))
            continue
        classes = frozenset(b.cls for b in boxes)
        result.images.append(SourceImage(path, path.stem, bool(boxes), classes, boxes, size, hint))
    return result


# ---------------------------------------------------------------- voc


def _voc_image(xml_path: Path, filename: str, source: Path) -> Path | None:
    folders = [xml_path.parent, xml_path.parent.parent / "JPEGImages", source / "JPEGImages", source]
    for folder in folders:
        if filename and (folder / filename).is_file():
            return folder / filename
        for ext in IMAGE_EXTENSIONS:
            candidate = folder / f"{xml_path.stem}{ext}"
            if candidate.is_file():
                return candidate
    return None


def read_voc(source: Path, options: ReaderOptions) -> ReadResult:
    result = ReadResult(classes=list(options.classes))
    found: set[str] = set()
    for xml_path in sorted(source.rglob("*.xml")):
        rel = _rel(xml_path, source)
        try:
            root = ET.parse(xml_path).getroot()
        except ET.ParseError as err:
            result.problems.append(Problem(rel, f"not valid XML: {err}", "skipped"))
            continue
        if root.tag != "annotation":
            continue
        image_path = _voc_image(xml_path, (root.findtext("filename") or "").strip(), source)
        if image_path is None:
            result.problems.append(Problem(rel, "its image was not found", "skipped"))
            continue
        size = _read_size(image_path)
        if size is None:
            result.problems.append(Problem(_rel(image_path, source), "cannot read the image", "skipped"))
            continue
        boxes, bad = [], []
        for i, obj in enumerate(root.iter("object"), 1):
            try:
                name = (obj.findtext("name") or "").strip()
                bnd = obj.find("bndbox")
                if not name or bnd is None:
                    raise ValueError("object without a name or a bndbox")
                x1, y1, x2, y2 = (float(bnd.findtext(k) or "nan") for k in ("xmin", "ymin", "xmax", "ymax"))
                x1, y1 = max(0.0, x1), max(0.0, y1)
                x2, y2 = min(float(size[0]), x2), min(float(size[1]), y2)
                if not (x2 > x1 and y2 > y1):  # also catches NaN
                    raise ValueError("box is empty or outside the image")
            except ValueError as err:
                bad.append(f"object {i}: {err}")
                continue
            boxes.append(LabelBox(name, x1, y1, x2, y2))
            found.add(name)
        if bad:
            result.problems.append(Problem(rel, "; ".join(bad), "skipped"))
            continue
        result.images.append(
            SourceImage(image_path, image_path.stem, bool(boxes), frozenset(b.cls for b in boxes), boxes, size)
        )
    if not result.classes:
        result.classes = sorted(found)
    return result


READERS: dict[str, Callable[[Path, ReaderOptions], ReadResult]] = {"masks": read_masks, "yolo": read_yolo, "voc": read_voc}


def group_key(stem: str, pattern: str | None) -> str:
    """The key that keeps related images in one split: the regex's first group (or match) in the stem, else the stem."""
    if not pattern:
        return stem
    match = re.search(pattern, stem)
    if match is None:
        return stem
    return match.group(1) if match.groups() else match.group(0)
