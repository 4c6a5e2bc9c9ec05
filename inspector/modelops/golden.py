"""The station's golden set: versioned, labelled images a candidate model must do well on before promotion.

Layout (in the registry folder)::

    golden/images/<sha256>.<ext>      each image once, byte for byte
    golden/draft.json                 items added since the last build
    golden/versions/<n>.json          a built version: its items, who built it and when

An item is an image with its label (``good`` or ``defective``, with classes
when known), where it came from (``reviewed``: a part a person labelled on the
review screen; ``dataset``: a dataset split; ``challenge``: a challenge part)
and, for challenge parts, the decision it must get (``pass``/``reject``).
``golden add`` adds to the draft; ``golden build`` makes the next version of
the previous one plus the draft (a later label of the same image wins), so
the version a gate ran on can always be read back. Every add and build is
audited.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from inspector.errors import InspectorError, StoreError
from inspector.records.marks import reviewed_images

IMAGE_SUFFIXES = (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg")


class GoldenSetError(InspectorError):
    """The golden set could not be read, added to or built."""


@dataclass(frozen=True)
class GoldenItem:
    image: str  # relative to the golden folder
    sha256: str
    label: str  # good | defective
    origin: str  # reviewed | dataset | challenge
    source: str  # where it came from (part key, dataset file, challenge file)
    classes: tuple[str, ...] = ()
    expect: str = ""  # challenge parts: the decision they must get (pass | reject)

    @property
    def defective(self) -> bool:
        return self.label == "defective"


@dataclass(frozen=True)
class GoldenVersion:
    number: int
    version: str  # golden-v<n>-<content hash>
    built_at: float
    built_by: str
    items: tuple[GoldenItem, ...]

    def counts(self) -> dict[str, int]:
        return {
            "items": len(self.items),
            "good": sum(not i.defective for i in self.items),
            "defective": sum(i.defective for i in self.items),
            "challenge": sum(i.origin == "challenge" for i in self.items),
        }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _item(raw: dict) -> GoldenItem:
    return GoldenItem(**{**raw, "classes": tuple(raw.get("classes", ()))})


class GoldenSet:
    """One station's golden set (see the module's description); ``trail``: the audit trail to record into."""

    def __init__(self, folder: Path, trail) -> None:
        self.folder = folder
        self.trail = trail

    # -- reading --------------------------------------------------------------------------
    def draft(self) -> list[GoldenItem]:
        path = self.folder / "draft.json"
        if not path.is_file():
            return []
        try:
            return [_item(raw) for raw in json.loads(path.read_text())["items"]]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise GoldenSetError(f"the golden-set draft {path} is unreadable: {err}") from err

    def versions(self) -> list[GoldenVersion]:
        folder = self.folder / "versions"
        if not folder.is_dir():
            return []
        return sorted((self.version(int(p.stem)) for p in folder.glob("*.json")), key=lambda v: v.number)

    def version(self, number: int) -> GoldenVersion:
        path = self.folder / "versions" / f"{number}.json"
        try:
            raw = json.loads(path.read_text())
            return GoldenVersion(raw["number"], raw["version"], raw["built_at"], raw["built_by"],
                                 tuple(_item(i) for i in raw["items"]))
        except FileNotFoundError as err:
            raise GoldenSetError(f"no golden-set version {number} (see 'inspector golden list')") from err
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise GoldenSetError(f"golden-set version file {path} is unreadable: {err}") from err

    def latest(self) -> GoldenVersion:
        versions = self.versions()
        if not versions:
            raise GoldenSetError("the station has no golden set yet: 'inspector golden add' then 'inspector golden build'")
        return versions[-1]

    def image_path(self, item: GoldenItem) -> Path:
        return self.folder / item.image

    # -- adding -----------------------------------------------------------------------------
    def _keep_image(self, source: Path) -> tuple[str, str]:
        if not source.is_file():
            raise GoldenSetError(f"image {source} does not exist")
        digest = _sha256(source)
        target = self.folder / "images" / f"{digest}{source.suffix.lower()}"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        return str(target.relative_to(self.folder)), digest

    def _add(self, user: str, origin: str, new: list[tuple[Path, str, tuple[str, ...], str, str]]) -> int:
        """``new``: (image file, label, classes, source, expect) per item; returns how many were added."""
        if not new:
            raise GoldenSetError(f"nothing to add from the {origin} source: no labelled images found")
        items = {i.sha256: i for i in self.draft()}
        for path, label, classes, source, expect in new:
            image, digest = self._keep_image(path)
            items[digest] = GoldenItem(image, digest, label, origin, source, tuple(sorted(classes)), expect)
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "draft.json").write_text(json.dumps({"items": [asdict(i) for i in items.values()]}, indent=1) + "\n")
        self.trail.record(user, "golden_add", origin, None, {"items": len(new), "draft": len(items)})
        return len(new)

    def add_challenge_folder(self, folder: Path, expect: str, user: str) -> int:
        """Every image in ``folder`` as a challenge part that must get ``expect`` (pass or reject)."""
        if expect not in ("pass", "reject"):
            raise GoldenSetError(f"a challenge part must be expected to 'pass' or 'reject', not {expect!r}")
        if not folder.is_dir():
            raise GoldenSetError(f"challenge folder {folder} does not exist")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        label = "defective" if expect == "reject" else "good"
        return self._add(user, "challenge", [(p, label, (), f"challenge:{p.name}", expect) for p in files])

    def add_dataset_split(self, dataset: Path, split: str, user: str) -> int:
        """The images of one split of an Inspector dataset (``inspector dataset import``), with their labels."""
        from inspector.datasets_tool import DatasetError, load_dataset

        try:
            images = load_dataset(dataset).split(split)
        except DatasetError as err:
            raise GoldenSetError(f"cannot read dataset {dataset}: {err}") from err
        return self._add(user, "dataset", [
            (img.path, "defective" if img.defective else "good", tuple(img.classes), f"dataset:{dataset.name}/{img.path.name}", "")
            for img in images
        ])

    def add_reviewed(self, database: Path, user: str, since: float = 0.0) -> int:
        """Parts a person labelled on the review screen (or marked a false reject / a true defect), with their stored image."""
        if not database.is_file():
            raise GoldenSetError(f"no recorder database at {database}")
        try:
            reviewed = reviewed_images(database, since)
        except StoreError as err:
            raise GoldenSetError(str(err)) from err
        new = [(Path(r.image_path), r.label, r.classes, f"part:{r.camera}:{r.part_id}", "") for r in reviewed]
        return self._add(user, "reviewed", new)

    # -- building ---------------------------------------------------------------------------
    def build(self, user: str) -> GoldenVersion:
        """The next version: the latest one plus the draft (a later label of the same image wins)."""
        draft = self.draft()
        if not draft:
            raise GoldenSetError("the golden-set draft is empty: add images first ('inspector golden add')")
        versions = self.versions()
        items = {i.sha256: i for i in (versions[-1].items if versions else ())}
        items.update({i.sha256: i for i in draft})
        ordered = tuple(sorted(items.values(), key=lambda i: i.sha256))
        number = versions[-1].number + 1 if versions else 1
        digest = hashlib.sha256(json.dumps([asdict(i) for i in ordered], sort_keys=True).encode()).hexdigest()[:12]
        version = GoldenVersion(number, f"golden-v{number}-{digest}", time.time(), user, ordered)
        folder = self.folder / "versions"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{number}.json").write_text(json.dumps(asdict(version), indent=1) + "\n")
        (self.folder / "draft.json").unlink()
        self.trail.record(user, "golden_build", version.version, None, version.counts())
        return version

