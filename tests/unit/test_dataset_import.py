"""`inspector dataset import`: every supported layout becomes one dataset format, problems are reported per file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from inspector.datasets_tool import DatasetError, ImportOptions, import_dataset, load_dataset
from inspector.datasets_tool.readers import ReaderOptions, mask_boxes
from tests.conftest import SHARED_DATASETS

TILES = SHARED_DATASETS / "magnetic_tile"
MT_FILES = {
    "MT_Free": ["exp1_num_10181", "exp0_num_743"],
    "MT_Blowhole": ["exp1_num_108719", "exp1_num_108889"],
    "MT_Break": ["exp6_num_98402"],  # its mask has four 1-pixel specks beside four real regions
    "MT_Uneven": ["exp3_num_24829"],  # its mask is empty
}


def copy_tiles(dest: Path) -> Path:
    for folder, stems in MT_FILES.items():
        (dest / folder / "Imgs").mkdir(parents=True)
        for stem in stems:
            for ext in (".jpg", ".png"):
                shutil.copyfile(TILES / folder / "Imgs" / f"{stem}{ext}", dest / folder / "Imgs" / f"{stem}{ext}")
    return dest


def grey(h: int = 60, w: int = 80, value: int = 90) -> np.ndarray:
    return np.full((h, w), value, np.uint8)


def manifest_of(root: Path) -> dict:
    return json.loads((root / "manifest.json").read_text())


def by_source(manifest: dict) -> dict[str, dict]:
    return {i["source"]: i for i in manifest["images"]}


# ------------------------------------------------------------------ masks (the magnetic-tile layout)


def test_magnetic_tile_folders_import_with_folder_classes_and_mask_boxes(tmp_path):
    source = copy_tiles(tmp_path / "tiles")
    result = import_dataset(source, tmp_path / "ds", ImportOptions("masks", reader=ReaderOptions(strip_prefix="MT_")))
    manifest = manifest_of(result.path)
    images = by_source(manifest)
    assert manifest["classes"] == ["blowhole", "break", "uneven"]
    assert result.images == 6 and len(images) == 6
    assert images["MT_Free/Imgs/exp0_num_743.jpg"]["label"] == "good"
    assert images["MT_Free/Imgs/exp0_num_743.jpg"]["boxes"] == []
    blowhole = images["MT_Blowhole/Imgs/exp1_num_108719.jpg"]
    assert blowhole["label"] == "defective" and blowhole["classes"] == ["blowhole"]
    mask = cv2.imread(str(source / "MT_Blowhole/Imgs/exp1_num_108719.png"), cv2.IMREAD_GRAYSCALE)
    ys, xs = np.nonzero(mask >= 128)
    assert blowhole["boxes"] == [{"cls": "blowhole", "box": [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]}]
    # the image is copied byte for byte, and its YOLO label line is the box normalised
    copied = result.path / blowhole["file"]
    assert copied.read_bytes() == (source / "MT_Blowhole/Imgs/exp1_num_108719.jpg").read_bytes()
    w, h = blowhole["size"]
    (cls, cx, cy, bw, bh), = [map(float, line.split()) for line in (result.path / "labels" / blowhole["split"] / "exp1_num_108719.txt").read_text().splitlines()]
    x1, y1, x2, y2 = blowhole["boxes"][0]["box"]
    assert (cls, cx, cy, bw, bh) == pytest.approx((0, (x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h), abs=1e-6)


def test_mask_specks_are_dropped_and_counted(tmp_path):
    source = copy_tiles(tmp_path / "tiles")
    result = import_dataset(source, tmp_path / "ds", ImportOptions("masks", reader=ReaderOptions(strip_prefix="MT_")))
    manifest = manifest_of(result.path)
    brk = by_source(manifest)["MT_Break/Imgs/exp6_num_98402.jpg"]
    assert len(brk["boxes"]) == 4 and brk["specks_dropped"] == 4
    assert manifest["mask_rule"]["threshold"] == 128
    assert manifest["mask_rule"]["min_component_px"] == 8
    assert manifest["mask_rule"]["specks_dropped"] == sum(i.get("specks_dropped", 0) for i in manifest["images"])


def test_a_defect_image_with_an_empty_mask_is_reported_kept_for_evaluation_and_left_out_of_training(tmp_path):
    source = copy_tiles(tmp_path / "tiles")
    result = import_dataset(source, tmp_path / "ds", ImportOptions("masks", reader=ReaderOptions(strip_prefix="MT_")))
    uneven = by_source(manifest_of(result.path))["MT_Uneven/Imgs/exp3_num_24829.jpg"]
    assert uneven["label"] == "defective" and uneven["classes"] == ["uneven"] and not uneven["trainable"]
    (problem,) = [p for p in result.problems if "exp3_num_24829" in p.file]
    assert problem.action == "kept" and "left out of training" in problem.problem
    listed = "".join((result.path / f"{s}.txt").read_text() for s in ("train", "val", "test"))
    assert "exp3_num_24829" not in listed and "exp1_num_108719" in listed
    # the evaluator still sees it as a defective part of class 'uneven'
    (image,) = [i for i in load_dataset(result.path).images if i.source.endswith("exp3_num_24829.jpg")]
    assert image.defective and image.classes == {"uneven"}


def test_mask_regions_become_one_box_each_after_thresholding_anti_aliased_edges():
    mask = np.zeros((50, 60), np.uint8)
    mask[10:20, 5:15] = 255
    mask[9, 5:15] = 100  # anti-aliased edge under the threshold: not part of the region
    mask[30:41, 40:52] = 200
    mask[2, 58] = 255  # a speck
    boxes, specks = mask_boxes(mask, "crack", threshold=128, min_px=8)
    assert [(b.x1, b.y1, b.x2, b.y2) for b in sorted(boxes, key=lambda b: b.x1)] == [(5, 10, 15, 20), (40, 30, 52, 41)]
    assert specks == 1


def test_a_missing_mask_and_an_unreadable_image_are_reported_per_file(tmp_path):
    source = tmp_path / "src"
    (source / "scratch").mkdir(parents=True)
    (source / "good").mkdir()
    cv2.imwrite(str(source / "good" / "a.jpg"), grey(value=10))
    cv2.imwrite(str(source / "scratch" / "b.jpg"), grey(value=20))  # no mask beside it
    (source / "scratch" / "c.jpg").write_bytes(b"not a jpeg")
    cv2.imwrite(str(source / "scratch" / "d.jpg"), grey(value=30))
    mask = np.zeros((60, 80), np.uint8)
    mask[5:25, 5:25] = 255
    cv2.imwrite(str(source / "scratch" / "d.png"), mask)
    result = import_dataset(source, tmp_path / "ds", ImportOptions("masks"))
    problems = {p.file: p for p in result.problems}
    assert problems["scratch/b.jpg"].action == "kept" and "no mask" in problems["scratch/b.jpg"].problem
    assert problems["scratch/c.jpg"].action == "skipped"
    assert result.images == 3
    assert manifest_of(result.path)["problems"] == [p.to_json() for p in result.problems]


# ------------------------------------------------------------------ YOLO detection and segmentation


def yolo_source(root: Path) -> Path:
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    (root / "data.yaml").write_text("names:\n  0: scratch\n  1: dent\n")
    for i, stem in enumerate(("det", "seg", "good", "bad", "nolabel")):
        cv2.imwrite(str(root / "images" / "train" / f"{stem}.png"), grey(100, 200, value=10 * i))
    labels = root / "labels" / "train"
    (labels / "det.txt").write_text("0 0.5 0.5 0.2 0.4\n")
    (labels / "seg.txt").write_text("1 0.1 0.2 0.3 0.2 0.25 0.6 0.05 0.5\n")
    (labels / "good.txt").write_text("")
    (labels / "bad.txt").write_text("0 0.5 0.5 0.2 0.4\n7 0.5 0.5 0.1 0.1\n0 0.5 oops 0.1 0.1\n")
    return root


def test_yolo_detection_and_segmentation_labels_become_pixel_boxes(tmp_path):
    result = import_dataset(yolo_source(tmp_path / "src"), tmp_path / "ds", ImportOptions("yolo"))
    images = by_source(manifest_of(result.path))
    assert manifest_of(result.path)["classes"] == ["scratch", "dent"]
    assert images["images/train/det.png"]["boxes"] == [{"cls": "scratch", "box": [80.0, 30.0, 120.0, 70.0]}]
    # the polygon's extent: x 0.05..0.3 of 200 px, y 0.2..0.6 of 100 px
    assert images["images/train/seg.png"]["boxes"] == [{"cls": "dent", "box": [10.0, 20.0, 60.0, 60.0]}]
    assert images["images/train/good.png"]["label"] == "good"


def test_bad_yolo_lines_skip_that_file_with_the_lines_named_and_a_missing_label_file_is_reported(tmp_path):
    result = import_dataset(yolo_source(tmp_path / "src"), tmp_path / "ds", ImportOptions("yolo"))
    problems = {p.file: p for p in result.problems}
    bad = problems["labels/train/bad.txt"]
    assert bad.action == "skipped" and "line 2: class 7" in bad.problem and "line 3: not numbers" in bad.problem
    nolabel = problems["images/train/nolabel.png"]
    assert nolabel.action == "kept" and "imported as a good image" in nolabel.problem
    assert result.images == 4


def test_source_splits_are_kept_on_request(tmp_path):
    source = yolo_source(tmp_path / "src")
    result = import_dataset(source, tmp_path / "ds", ImportOptions("yolo", keep_source_splits=True))
    assert result.splits == {"train": 4, "val": 0, "test": 0}


# ------------------------------------------------------------------ Pascal VOC


VOC_XML = """<annotation><filename>{name}</filename><size><width>80</width><height>60</height></size>
{objects}</annotation>"""
VOC_OBJECT = "<object><name>{cls}</name><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"


def test_pascal_voc_annotations_import_and_bad_files_are_reported(tmp_path):
    source = tmp_path / "voc"
    (source / "Annotations").mkdir(parents=True)
    (source / "JPEGImages").mkdir()
    for i, stem in enumerate(("a", "b", "c")):
        cv2.imwrite(str(source / "JPEGImages" / f"{stem}.jpg"), grey(value=10 * i))
    objects = VOC_OBJECT.format(cls="dent", x1=10, y1=5, x2=30, y2=25) + VOC_OBJECT.format(cls="scratch", x1=50, y1=40, x2=90, y2=59)
    (source / "Annotations" / "a.xml").write_text(VOC_XML.format(name="a.jpg", objects=objects))
    (source / "Annotations" / "b.xml").write_text(VOC_XML.format(name="b.jpg", objects=""))
    (source / "Annotations" / "c.xml").write_text("<annotation><filename>c.jpg</filename>")  # truncated
    (source / "Annotations" / "d.xml").write_text(VOC_XML.format(name="d.jpg", objects=""))  # no image d.jpg
    result = import_dataset(source, tmp_path / "ds", ImportOptions("voc"))
    images = by_source(manifest_of(result.path))
    assert manifest_of(result.path)["classes"] == ["dent", "scratch"]
    assert images["JPEGImages/a.jpg"]["boxes"] == [
        {"cls": "dent", "box": [10.0, 5.0, 30.0, 25.0]},
        {"cls": "scratch", "box": [50.0, 40.0, 80.0, 59.0]},  # clipped to the 80 px wide image
    ]
    assert images["JPEGImages/b.jpg"]["label"] == "good"
    problems = {p.file: p for p in result.problems}
    assert problems["Annotations/c.xml"].action == "skipped" and "not valid XML" in problems["Annotations/c.xml"].problem
    assert problems["Annotations/d.xml"].problem == "its image was not found"


# ------------------------------------------------------------------ splits and versions


def many_tiles(root: Path, stems: list[str]) -> Path:
    (root / "good").mkdir(parents=True, exist_ok=True)
    for i, stem in enumerate(stems):
        cv2.imwrite(str(root / "good" / f"{stem}.png"), grey(value=i % 250))
    return root


def splits_by_source(root: Path) -> dict[str, str]:
    return {i["source"]: i["split"] for i in manifest_of(root)["images"]}


def test_splits_are_deterministic_and_the_version_is_the_content_hash(tmp_path):
    source = many_tiles(tmp_path / "src", [f"part{i:03d}" for i in range(60)])
    first = import_dataset(source, tmp_path / "a", ImportOptions("masks"))
    second = import_dataset(source, tmp_path / "b", ImportOptions("masks", name="a"))
    assert first.version == second.version and first.version.startswith("a-")
    assert splits_by_source(first.path) == splits_by_source(second.path)
    assert all(n > 0 for n in first.splits.values())
    cv2.imwrite(str(source / "good" / "part000.png"), grey(value=200))  # one image changes
    third = import_dataset(source, tmp_path / "c", ImportOptions("masks", name="a"))
    assert third.version != first.version


def test_adding_images_never_moves_existing_ones_between_splits(tmp_path):
    source = many_tiles(tmp_path / "src", [f"part{i:03d}" for i in range(40)])
    before = splits_by_source(import_dataset(source, tmp_path / "a", ImportOptions("masks")).path)
    many_tiles(source, [f"part{i:03d}" for i in range(40, 80)])
    after = splits_by_source(import_dataset(source, tmp_path / "b", ImportOptions("masks")).path)
    assert {k: after[k] for k in before} == before


def test_related_images_share_a_split_by_group_pattern_and_duplicates_stay_together(tmp_path):
    stems = [f"part{i:02d}_cam{c}" for i in range(30) for c in (1, 2)]
    source = many_tiles(tmp_path / "src", stems)
    shutil.copyfile(source / "good" / "part00_cam1.png", source / "good" / "zz_copy.png")
    result = import_dataset(source, tmp_path / "ds", ImportOptions("masks", group_pattern=r"^(part\d+)_"))
    splits = splits_by_source(result.path)
    for i in range(30):
        assert splits[f"good/part{i:02d}_cam1.png"] == splits[f"good/part{i:02d}_cam2.png"]
    assert len({splits[f"good/part{i:02d}_cam1.png"] for i in range(30)}) == 3
    assert splits["good/zz_copy.png"] == splits["good/part00_cam1.png"]
    assert any("same content as good/part00_cam1.png" in p.problem for p in result.problems)


def test_the_same_image_labelled_two_ways_is_reported(tmp_path):
    source = tmp_path / "src"
    for folder in ("good", "dent"):
        (source / folder).mkdir(parents=True)
        cv2.imwrite(str(source / folder / f"{folder}_copy.png"), grey())
    result = import_dataset(source, tmp_path / "ds", ImportOptions("masks"))
    (problem,) = [p for p in result.problems if "same content" in p.problem]
    assert "labelled differently" in problem.problem


def test_the_data_yaml_is_what_ultralytics_reads(tmp_path):
    result = import_dataset(yolo_source(tmp_path / "src"), tmp_path / "ds", ImportOptions("yolo", fractions=(1, 0, 0)))
    data = yaml.safe_load(result.data_yaml.read_text())
    assert data["path"] == str(result.path.resolve())
    assert data["train"] == "train.txt" and data["val"] == "train.txt"  # no val image: validate on train
    assert data["names"] == {0: "scratch", 1: "dent"}
    listed = (result.path / "train.txt").read_text().split()
    assert all((result.path / line).is_file() for line in listed) and len(listed) == 4


def test_an_existing_dataset_is_not_overwritten_unless_asked(tmp_path):
    source = yolo_source(tmp_path / "src")
    import_dataset(source, tmp_path / "ds", ImportOptions("yolo"))
    with pytest.raises(DatasetError, match=r"exists already; choose another folder \(--out\) or replace it \(--replace\)"):
        import_dataset(source, tmp_path / "ds", ImportOptions("yolo"))
    assert import_dataset(source, tmp_path / "ds", ImportOptions("yolo", replace=True)).images == 4


def test_bad_options_and_empty_sources_are_refused(tmp_path):
    with pytest.raises(DatasetError, match="fractions"):
        import_dataset(tmp_path, tmp_path / "ds", ImportOptions("masks", fractions=(0.5, 0.2, 0.2)))
    with pytest.raises(DatasetError, match="unknown layout"):
        import_dataset(tmp_path, tmp_path / "ds", ImportOptions("coco"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no image could be imported"):
        import_dataset(tmp_path / "empty", tmp_path / "ds", ImportOptions("masks"))


def test_an_import_with_nothing_trainable_stops_naming_why(tmp_path):
    source = tmp_path / "untrainable"
    (source / "scratch").mkdir(parents=True)
    for i in range(3):  # defective by folder, but no mask: nothing to learn a defect from, and no good part either
        cv2.imwrite(str(source / "scratch" / f"p{i}.png"), grey())
    with pytest.raises(DatasetError, match="nothing in .* can be trained on: 3 defective image"):
        import_dataset(source, tmp_path / "ds", ImportOptions("masks"))
    assert not (tmp_path / "ds").exists()


def test_mask_pixels_are_kept_as_class_numbers_for_segmentation(tmp_path):
    source = copy_tiles(tmp_path / "tiles")
    result = import_dataset(source, tmp_path / "ds", ImportOptions("masks", reader=ReaderOptions(strip_prefix="MT_")))
    dataset = load_dataset(result.path)
    blowhole = next(i for i in dataset.images if i.source == "MT_Blowhole/Imgs/exp1_num_108719.jpg")
    stored = blowhole.read_mask(dataset.classes, blowhole.read().shape[:2])
    original = cv2.imread(str(source / "MT_Blowhole/Imgs/exp1_num_108719.png"), cv2.IMREAD_GRAYSCALE) >= 128
    assert set(np.unique(stored)) == {0, dataset.classes.index("blowhole") + 1}
    assert np.array_equal(stored > 0, original)  # the defect pixels, exactly
    good = next(i for i in dataset.images if not i.defective)
    assert good.mask is None and not good.read_mask(dataset.classes, (10, 10)).any()
    entry = by_source(manifest_of(result.path))["MT_Blowhole/Imgs/exp1_num_108719.jpg"]
    assert entry["mask"].startswith("masks/") and len(entry["mask_sha256"]) == 64
