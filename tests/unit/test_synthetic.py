"""Synthetic parts: deterministic per (seed, index), honest labels, YOLO dataset export."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import yaml

from inspector.synthetic import DEFECT_CLASSES, PartGenerator, parse_source
from inspector.synthetic.dataset import SplitSpec, write_yolo_dataset

W, H = 400, 300  # small, so fast to render


def generator(seed: int = 7, defect_rate: float = 0.5) -> PartGenerator:
    return PartGenerator(W, H, defect_rate=defect_rate, seed=seed)


def test_same_seed_and_index_draw_the_same_part():
    a, b = generator(seed=7).part(11), generator(seed=7).part(11)
    assert np.array_equal(a.image, b.image)
    assert a.defects == b.defects


def test_asking_twice_or_out_of_order_does_not_change_a_part():
    gen = generator()
    first = gen.part(5)
    gen.part(99)
    assert np.array_equal(gen.part(5).image, first.image)


def test_different_seeds_draw_different_parts():
    assert not np.array_equal(generator(seed=1).part(0).image, generator(seed=2).part(0).image)


def test_different_indices_draw_different_parts():
    gen = generator()
    assert not np.array_equal(gen.part(0).image, gen.part(1).image)


def test_image_is_a_mono8_frame_of_the_requested_size():
    image = PartGenerator(640, 480, seed=3).part(0).image
    assert image.shape == (480, 640) and image.dtype == np.uint8
    assert image.flags.c_contiguous


def test_every_part_renders_at_the_smallest_frame_size_the_config_allows():
    # cameras[].width/height accept 320x240, so a camera service may be asked for these
    gen = PartGenerator(320, 240, defect_rate=1.0, seed=7)
    for index in range(25):
        part = gen.part(index)
        assert part.image.shape == (240, 320)
        assert part.is_defective


def test_defect_rate_zero_draws_no_defects():
    gen = generator(defect_rate=0.0)
    assert not any(gen.part(i).defects for i in range(40))


def test_defect_rate_one_always_draws_defects():
    gen = generator(defect_rate=1.0)
    assert all(gen.part(i).is_defective for i in range(40))


def test_defect_boxes_lie_inside_the_image_and_have_positive_area():
    gen = generator(seed=3, defect_rate=1.0)
    boxes = [(d.cls, d.box) for i in range(120) for d in gen.part(i).defects]
    assert {cls for cls, _ in boxes} == set(DEFECT_CLASSES)  # every class was drawn at least once
    for cls, (x1, y1, x2, y2) in boxes:
        assert 0 <= x1 < x2 <= W, (cls, (x1, y1, x2, y2))
        assert 0 <= y1 < y2 <= H, (cls, (x1, y1, x2, y2))


def test_is_defective_agrees_with_the_rendered_part():
    gen = generator(seed=11, defect_rate=0.3)
    flags = [gen.is_defective(i) for i in range(200)]
    assert flags == [gen.part(i).is_defective for i in range(200)]
    assert 20 < sum(flags) < 100  # about 30 %


@pytest.mark.parametrize(("width", "height", "rate"), [(319, 240, 0.5), (320, 239, 0.5), (320, 240, 1.5), (320, 240, -0.1)])
def test_impossible_generator_settings_are_refused(width, height, rate):
    with pytest.raises(ValueError):
        PartGenerator(width, height, defect_rate=rate)


# -- frame sources -------------------------------------------------------------------------


@pytest.mark.parametrize(("seed", "rate", "index"), [(7, 0.5, 0), (1000, 0.25, 4711), (-3, 1.0, 12), (0, 0.0, 2**31)])
def test_parse_source_recovers_seed_rate_and_index(seed, rate, index):
    gen = PartGenerator(W, H, defect_rate=rate, seed=seed)
    assert parse_source(gen.source(index)) == (seed, rate, index)


@pytest.mark.parametrize(
    "source", ["/data/replay/part_0001.png", "C:/images/a.png", "", None, "synthetic:seed=1", "synthetic:seed=x:defect_rate=0.5:index=1"]
)
def test_parse_source_of_anything_else_is_none(source):
    assert parse_source(source) is None


# -- YOLO dataset ------------------------------------------------------------------------------


def test_yolo_dataset_has_images_normalised_labels_and_a_data_yaml(tmp_path):
    gen = generator(seed=21, defect_rate=0.7)
    root = tmp_path / "ds"
    data_yaml = write_yolo_dataset(root, gen, [SplitSpec("train", 0, 6), SplitSpec("val", 6, 3)])

    data = yaml.safe_load(data_yaml.read_text())
    assert data["train"] == "images/train" and data["val"] == "images/val"
    assert data["names"] == dict(enumerate(DEFECT_CLASSES))
    for split, indices in (("train", range(0, 6)), ("val", range(6, 9))):
        for index in indices:
            stem = f"part_{index:07d}"
            image = root / "images" / split / f"{stem}.png"
            assert image.is_file()
            lines = (root / "labels" / split / f"{stem}.txt").read_text().splitlines()
            part = gen.part(index)
            assert len(lines) == len(part.defects)
            for line, defect in zip(lines, part.defects):
                cls, *coords = line.split()
                assert DEFECT_CLASSES[int(cls)] == defect.cls
                assert len(coords) == 4
                assert all(0.0 <= float(v) <= 1.0 for v in coords)
                x1, y1, x2, y2 = defect.box
                assert float(coords[0]) == pytest.approx((x1 + x2) / 2 / W, abs=1e-6)
                assert float(coords[3]) == pytest.approx((y2 - y1) / H, abs=1e-6)


def test_yolo_dataset_image_is_the_generated_part(tmp_path):
    gen = generator(seed=21)
    write_yolo_dataset(tmp_path, gen, [SplitSpec("test", 40, 1)])
    stored = cv2.imread(str(tmp_path / "images" / "test" / "part_0000040.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(stored, gen.part(40).image)


def test_yolo_dataset_refuses_overlapping_split_ranges_before_writing(tmp_path):
    splits = [SplitSpec("train", 0, 10), SplitSpec("val", 20, 5), SplitSpec("test", 8, 5)]
    with pytest.raises(ValueError, match="overlap"):
        write_yolo_dataset(tmp_path / "ds", generator(), splits)
    assert not (tmp_path / "ds").exists()
