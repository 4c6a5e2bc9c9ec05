"""The image gate: blank, saturated and frozen frames are named; ordinary parts pass."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from inspector.config.schema import ImageGateConfig
from inspector.image_gate import ImageGate
from inspector.synthetic import PartGenerator


@pytest.fixture
def gate() -> ImageGate:
    return ImageGate(ImageGateConfig())


def parts(n: int) -> list[np.ndarray]:
    generator = PartGenerator(seed=11)
    return [generator.part(i).image for i in range(n)]


def test_ordinary_parts_pass(gate):
    assert [gate.problem("top", image) for image in parts(20)] == [""] * 20


@pytest.mark.parametrize("level", [0, 128, 255])
def test_a_uniform_frame_is_blank(gate, level):
    assert gate.problem("top", np.full((480, 640), level, np.uint8)).startswith("blank frame: contrast 0.0")


def test_a_mostly_full_scale_frame_is_saturated_in_8_and_16_bits(gate):
    image = parts(1)[0].copy()
    image[:, :400] = 255
    assert gate.problem("top", image).startswith("saturated frame: 62% of pixels")
    wide = image.astype(np.uint16) * 257
    assert gate.problem("left", wide).startswith("saturated frame")


def test_the_same_frame_three_times_is_frozen_per_camera(gate):
    first, second = parts(2)
    assert gate.problem("top", first) == gate.problem("top", first) == ""
    assert gate.problem("other", first) == "", "another camera's frames are its own"
    assert gate.problem("top", first).startswith("frozen camera: the same frame 3 times")
    assert gate.problem("top", first).startswith("frozen camera: the same frame 4 times")
    assert gate.problem("top", second) == "", "a new frame clears it"


def test_each_check_follows_its_limit_and_the_gate_can_be_off():
    image = np.full((480, 640), 50, np.uint8)
    assert ImageGate(ImageGateConfig(enabled=False)).problem("top", image) == ""
    assert ImageGate(ImageGateConfig(min_contrast=0)).problem("top", image) == ""
    no_freeze = ImageGate(dataclasses.replace(ImageGateConfig(), frozen_frames=0))
    frame = parts(1)[0]
    assert [no_freeze.problem("top", frame) for _ in range(5)] == [""] * 5
