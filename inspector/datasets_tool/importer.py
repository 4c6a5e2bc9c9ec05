"""``inspector dataset import``: a source layout in, one dataset folder (see :mod:`.manifest`) out.

Splits are deterministic and stable: an image's split depends only on its
group key (the file stem, or what ``group_pattern`` extracts from it) and the
seed, through a hash. Images of one group always share a split, identical
image files are kept with the first of them, and adding images to a source
never moves an existing image to another split, so a test split stays
untouched across dataset versions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inspector.datasets_tool.manifest import FORMAT, SPLITS, DatasetError, content_hash
from inspector.datasets_tool.readers import READERS, Problem, ReaderOptions, SourceImage, group_key
from inspector.engine.model_package import sha256_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportOptions:
    layout: str  # "masks", "yolo" or "voc"
    name: str = ""  # dataset name, the prefix of its version (default: the output folder's name)
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)  # train, val, test
    seed: int = 0
    group_pattern: str | None = None  # regex on the file stem; its first group is the group key
    keep_source_splits: bool = False  # keep the split a YOLO source's images/<split>/ folder says
    reader: ReaderOptions = field(default_factory=ReaderOptions)
    replace: bool = False  # overwrite an existing dataset folder


@dataclass(frozen=True)
class ImportResult:
    version: str
    path: Path
    data_yaml: Path
    images: int
    splits: dict[str, int]
    problems: list[Problem]

    def lines(self) -> list[str]:
        out = [f"dataset {self.version}: {self.images} images {self.splits} in {self.path}"]
        skipped = [p for p in self.problems if p.action == "skipped"]
        out.append(f"{len(self.problems)} problem(s) reported, {len(skipped)} file(s) skipped (see manifest.json 'problems')")
        out += [f"  {p.action}: {p.file}: {p.problem}" for p in self.problems[:20]]
        if len(self.problems) > 20:
            out.append(f"  ... {len(self.problems) - 20} more in the manifest")
        return out


def hash_uniform(key: str, seed: int) -> float:
    """A number in [0, 1) fixed by ``seed:key``: the same key always draws the same number."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "big") / 2**64


def assign_split(key: str, fractions: tuple[float, float, float], seed: int) -> str:
    """The split of a group key: a uniform number from the hash of ``seed:key`` against the cumulative fractions."""
    u = hash_uniform(key, seed)
    edge = 0.0
    for name, fraction in zip(SPLITS, fractions):
        edge += fraction
        if u < edge:
            return name
    return SPLITS[-1]


def _check_options(options: ImportOptions) -> None:
    if options.layout not in READERS:
        raise DatasetError(f"unknown layout {options.layout!r} (known: {', '.join(READERS)})")
    if len(options.fractions) != 3 or any(f < 0 for f in options.fractions) or abs(sum(options.fractions) - 1) > 1e-6:
        raise DatasetError(f"split fractions must be three non-negative numbers adding up to 1, got {options.fractions}")


def import_dataset(source: str | Path, out: str | Path, options: ImportOptions) -> ImportResult:
    """Read ``source`` in ``options.layout`` and write the dataset folder ``out``."""
    source, out = Path(source), Path(out)
    _check_options(options)
    if not source.is_dir():
        raise DatasetError(f"source folder {source} does not exist")
    if out.exists() and not options.replace:
        raise DatasetError(f"{out} exists already; choose another folder (--out) or replace it (--replace)")
    read = READERS[options.layout](source, options.reader)
    classes = list(options.reader.classes) or read.classes
    problems = list(read.problems)
    entries = _entries(source, read.images, classes, options, problems)
    if not entries:
        raise DatasetError(f"no image could be imported from {source} ({len(problems)} problem(s), first: {problems[:1]})")
    if not any(not e["image"].defective or e["image"].boxes for e in entries):
        raise DatasetError(
            f"nothing in {source} can be trained on: {len(entries)} defective image(s) without a labelled defect "
            f"(box or mask) and no good image (with --layout {options.layout}; {len(problems)} problem(s), first: "
            f"{problems[0].file + ': ' + problems[0].problem if problems else 'none'})"
        )
    content = content_hash(classes, entries)
    version = f"{options.name or out.name}-{content[:12]}"
    splits = {s: sum(e["split"] == s for e in entries) for s in SPLITS}
    manifest = {
        "version": version,
        "format": FORMAT,
        "created": time.time(),
        "source": str(source.resolve()),
        "layout": options.layout,
        "classes": classes,
        "content_sha256": content,
        "splits": splits,
        "split_rule": {
            "fractions": dict(zip(SPLITS, options.fractions)),
            "seed": options.seed,
            "group_pattern": options.group_pattern,
            "keep_source_splits": options.keep_source_splits,
            "rule": "sha256('<seed>:<group key>') as a number in [0, 1) against the cumulative fractions",
        },
        "mask_rule": (
            {
                "threshold": options.reader.mask_threshold,
                "min_component_px": options.reader.min_component_px,
                "rule": "mask >= threshold, 8-connected regions, one box per region; smaller regions are dropped as specks",
                "specks_dropped": sum(e["image"].dropped_specks for e in entries),
            }
            if options.layout == "masks"
            else None
        ),
        "images": [_manifest_image(e, source) for e in entries],
        "problems": [p.to_json() for p in problems],
    }
    _write(out, entries, classes, manifest, options.replace)
    result = ImportResult(version, out, out / "data.yaml", len(entries), splits, problems)
    log.info("imported %d images from %s as %s (%d problems)", len(entries), source, version, len(problems))
    return result


def _entries(
    source: Path, images: list[SourceImage], classes: list[str], options: ImportOptions, problems: list[Problem]
) -> list[dict[str, Any]]:
    entries, names, first_of_content = [], set(), {}
    for image in sorted(images, key=lambda i: i.path):
        rel = image.path.relative_to(source).as_posix()
        unknown = sorted(image.classes - set(classes))
        if unknown:
            problems.append(Problem(rel, f"class {unknown[0]!r} is not one of the classes {classes}", "skipped"))
            continue
        sha = sha256_of(image.path)
        key = group_key(image.stem, options.group_pattern)
        if sha in first_of_content:
            first = first_of_content[sha]
            conflict = first["image"].defective != image.defective or first["image"].classes != image.classes
            note = "; labelled differently: check both labels" if conflict else ""
            problems.append(
                Problem(rel, f"same content as {first['source']}; kept in its split ({first['split']}){note}", "kept")
            )
            split = first["split"]
        elif options.keep_source_splits and image.split_hint:
            split = image.split_hint
        else:
            split = assign_split(key, options.fractions, options.seed)
        name = f"{image.stem}{image.path.suffix.lower()}"
        if name in names:
            name = f"{image.stem}-{hashlib.sha256(rel.encode()).hexdigest()[:6]}{image.path.suffix.lower()}"
        names.add(name)
        width, height = image.size
        lines = [b.yolo_line(classes.index(b.cls), width, height) for b in image.boxes]
        entry = {
            "file": f"images/{split}/{name}", "split": split, "sha256": sha, "source": rel, "group": key,
            "label": "defective" if image.defective else "good", "classes": sorted(image.classes), "lines": lines,
            "image": image,
        }
        if image.mask is not None:
            entry.update(_class_mask(image, classes, split))
        first_of_content.setdefault(sha, entry)
        entries.append(entry)
    return entries


def _class_mask(image: SourceImage, classes: list[str], split: str) -> dict[str, Any]:
    """The image's defect pixels as a PNG of class numbers (0 good, n = the n-th class), and its hash."""
    (cls,) = image.classes  # the masks layout names one class per image (its folder)
    pixels = image.mask.astype(np.uint8) * np.uint8(classes.index(cls) + 1)
    ok, png = cv2.imencode(".png", pixels)
    if not ok:
        raise DatasetError(f"cannot encode the mask of {image.path}")
    data = png.tobytes()
    return {"mask": f"masks/{split}/{image.stem}.png", "mask_png": data, "mask_sha256": hashlib.sha256(data).hexdigest()}


def _manifest_image(entry: dict[str, Any], source: Path) -> dict[str, Any]:
    image: SourceImage = entry["image"]
    out = {
        "file": entry["file"], "split": entry["split"], "sha256": entry["sha256"], "size": list(image.size),
        "label": entry["label"], "classes": entry["classes"], "boxes": [b.to_json() for b in image.boxes],
        "source": entry["source"], "group": entry["group"], "trainable": image.trainable,
    }
    if image.dropped_specks:
        out["specks_dropped"] = image.dropped_specks
    if "mask" in entry:
        out["mask"] = entry["mask"]
        out["mask_sha256"] = entry["mask_sha256"]
    return out


def _write(out: Path, entries: list[dict[str, Any]], classes: list[str], manifest: dict[str, Any], replace: bool) -> None:
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for entry in entries:
            image_path = staging / entry["file"]
            label_path = staging / "labels" / entry["split"] / f"{Path(entry['file']).stem}.txt"
            image_path.parent.mkdir(parents=True, exist_ok=True)
            label_path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(entry["image"].path, image_path)
            label_path.write_text("".join(f"{line}\n" for line in entry["lines"]))
            if "mask" in entry:
                mask_path = staging / entry["mask"]
                mask_path.parent.mkdir(parents=True, exist_ok=True)
                mask_path.write_bytes(entry["mask_png"])
        listed = {}
        for split in SPLITS:
            files = [e["file"] for e in entries if e["split"] == split and e["image"].trainable]
            (staging / f"{split}.txt").write_text("".join(f"./{f}\n" for f in files))
            listed[split] = len(files)
        val = "val.txt" if listed["val"] else "train.txt"
        if not listed["val"]:
            log.warning("no trainable image fell into the val split; ultralytics will validate on train")
        names = "".join(f"  {i}: {name}\n" for i, name in enumerate(classes))
        test = "test: test.txt\n" if listed["test"] else ""
        (staging / "data.yaml").write_text(f"path: {out.resolve()}\ntrain: train.txt\nval: {val}\n{test}names:\n{names}")
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if out.exists() and replace:
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(out)
    except OSError as err:
        shutil.rmtree(staging, ignore_errors=True)
        raise DatasetError(f"cannot write the dataset to {out}: {err}") from err
