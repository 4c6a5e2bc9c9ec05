"""Families whose model gives a score map per class: anomaly models and segmentation heads.

The ONNX graph takes a ``1 x 3 x H x W`` float image and returns, as its first
output, ``1 x C x h x w`` raw scores (the pixel-level map at the feature
stride, already smoothed by the graph, so its peak is the part's score).

Pre-processing (from ``family_settings`` in ``model.json``):

- ``colour``: ``grey`` (a colour frame is turned grey, the grey plane fills all
  three channels) or ``rgb``;
- ``input_scaling``: ``{offset, scale}``, the tensor is ``(pixel - offset) / scale``
  (EfficientNet-Lite's TF-Lite scaling is 127 and 128);
- ``standardise``: the grey levels of each tile are first brought to mean 127
  and standard deviation ``standardise`` (0 = off), so a brighter or darker
  part, or a lamp that ages, looks the same to the model;
- ``tiles``: ``[rows, cols]``, the frame is cut into that many tiles (each
  resized to the model's input), overlapping by ``tile_overlap`` of a tile,
  so small defects on a large part keep their pixels; ``[1, 1]`` resizes the
  whole frame.

Post-processing normalises the maps (``score_normalisation``), stitches the
tiles (a pixel seen by two tiles keeps the higher score) and hands them to
:meth:`~inspector.engine.findings.Findings.from_maps`, which cuts each class's
map into regions at the class's threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import cv2
import numpy as np

from inspector.engine.families.base import ModelFamily
from inspector.engine.findings import Findings, MapGeometry
from inspector.errors import ModelError
from inspector.typed import FieldProblem, from_dict, spec


@dataclass(frozen=True)
class InputScaling:
    offset: float = spec(127.0, doc="Subtracted from each pixel value.")
    scale: float = spec(128.0, doc="The difference is divided by this.", minimum=1e-6)


@dataclass(frozen=True)
class ScoreMapSettings:
    """What a score-map model's package says about its input (``family_settings``)."""

    colour: str = spec("grey", doc="'grey' or 'rgb': how frames are fed to the model.")
    input_scaling: InputScaling = spec(factory=InputScaling, doc="Pixel scaling into the model's input.")
    standardise: float = spec(0.0, doc="Bring each tile's grey levels to mean 127 and this standard deviation first (0 = off).", minimum=0, maximum=127)
    tiles: tuple[int, int] = spec((1, 1), doc="Rows and columns of tiles the frame is cut into.")
    tile_overlap: float = spec(0.125, doc="Overlap of neighbouring tiles, as a share of a tile.", minimum=0, maximum=0.5)
    map_stride: int = spec(8, doc="Input pixels per map pixel (informational; the graph's output shape decides).", minimum=1)
    backbone: str = spec("", doc="Feature extractor the model was built on (informational).")
    details: dict[str, Any] = spec(factory=dict, doc="Family-specific facts about the graph (informational).")

    @classmethod
    def parse(cls, raw: dict[str, Any], where: str) -> "ScoreMapSettings":
        try:
            settings = from_dict(cls, raw)
        except FieldProblem as err:
            raise ModelError(f"{where}: family_settings.{err}") from err
        if settings.colour not in ("grey", "rgb"):
            raise ModelError(f"{where}: family_settings.colour must be 'grey' or 'rgb', got {settings.colour!r}")
        if min(settings.tiles) < 1:
            raise ModelError(f"{where}: family_settings.tiles must be at least [1, 1], got {list(settings.tiles)}")
        return settings


def grey_plane(grey: np.ndarray, settings: ScoreMapSettings, out: np.ndarray | None = None) -> np.ndarray:
    """A grey image (uint8, or float 0..255) at the input size as the model's input plane (float32).

    The one place this family's pixel pre-processing is defined: the line
    (:meth:`ScoreMapFamily.preprocess`) and the training backends both call it,
    so a model sees on the line exactly what it learned from.
    """
    if out is None:
        plane = grey.astype(np.float32)
    else:
        np.copyto(out, grey, casting="unsafe")
        plane = out
    if settings.standardise > 0:
        mean, std = float(plane.mean()), float(plane.std())
        plane -= mean
        plane *= settings.standardise / max(std, 1.0)
        plane += 127.0
        np.clip(plane, 0.0, 255.0, out=plane)
        np.rint(plane, out=plane)  # whole grey levels, as a camera's
    scaling = settings.input_scaling
    plane -= scaling.offset
    plane *= 1.0 / scaling.scale
    return plane


def tile_windows(frame_hw: tuple[int, int], tiles: tuple[int, int], overlap: float) -> list[tuple[int, int, int, int]]:
    """``(y0, y1, x0, x1)`` of each tile of a frame, row by row; neighbours overlap by ``overlap`` of a tile."""
    windows = []
    spans = []
    for size, count in zip(frame_hw, tiles):
        if count == 1:
            spans.append([(0, size)])
            continue
        tile = int(np.ceil(size / (count - (count - 1) * overlap)))
        starts = np.linspace(0, size - tile, count).round().astype(int)
        spans.append([(int(s), int(s) + tile) for s in starts])
    for y0, y1 in spans[0]:
        for x0, x1 in spans[1]:
            windows.append((y0, y1, x0, x1))
    return windows


class ScoreMapFamily(ModelFamily):
    """Shared pre- and post-processing of map families (registered as ``anomaly`` and ``segmentation``)."""

    def __init__(self, metadata, config, score_floor=None) -> None:
        super().__init__(metadata, config, score_floor)
        self.settings = ScoreMapSettings.parse(metadata.family_settings, f"model {metadata.label}")
        self.classes = tuple(metadata.classes)
        h, w = metadata.input_size
        self._tensor = np.empty((1, 3, h, w), np.float32)
        self._grey = np.empty((h, w), np.uint8)
        self._windows: list[tuple[int, int, int, int]] = []
        self._frame_hw: tuple[int, int] | None = None

    @property
    def input_tensor(self) -> np.ndarray:
        return self._tensor

    @property
    def runs_per_frame(self) -> int:
        return self.settings.tiles[0] * self.settings.tiles[1]

    def check_model(self, input_shape: list, output_shapes: list[list]) -> None:
        meta = self.metadata
        if list(input_shape[2:]) != list(meta.input_size) or (isinstance(input_shape[1], int) and input_shape[1] != 3):
            raise ModelError(f"model input is {input_shape[1:]}, its metadata says 3 x {list(meta.input_size)}")
        maps = output_shapes[0]
        if len(maps) != 4:
            raise ModelError(f"model's first output must be 1 x C x h x w score maps, got shape {maps}")
        if isinstance(maps[1], int) and maps[1] != len(meta.classes):
            raise ModelError(f"model gives {maps[1]} score maps, its metadata lists {len(meta.classes)} classes")

    def preprocess(self, frame: np.ndarray) -> Iterator[np.ndarray]:
        frame_hw = frame.shape[:2]
        if frame_hw != self._frame_hw:
            self._windows = tile_windows(frame_hw, self.settings.tiles, self.settings.tile_overlap)
            self._frame_hw = frame_hw
        h, w = self._tensor.shape[2:]
        for y0, y1, x0, x1 in self._windows:
            tile = frame[y0:y1, x0:x1]
            if tile.ndim == 2 or self.settings.colour == "grey":
                grey = tile if tile.ndim == 2 else cv2.cvtColor(tile, cv2.COLOR_BGR2GRAY)
                cv2.resize(grey, (w, h), dst=self._grey, interpolation=cv2.INTER_AREA)
                grey_plane(self._grey, self.settings, out=self._tensor[0, 0])
                self._tensor[0, 1] = self._tensor[0, 0]
                self._tensor[0, 2] = self._tensor[0, 0]
            else:
                resized = cv2.resize(tile, (w, h), interpolation=cv2.INTER_AREA)
                for c in range(3):  # BGR -> RGB planes
                    grey_plane(resized[:, :, 2 - c], self.settings, out=self._tensor[0, c])
            yield self._tensor

    def postprocess(self, outputs: list[list[np.ndarray]], thresholds: tuple[float, ...]) -> Findings:
        assert self._frame_hw is not None, "postprocess before preprocess"
        maps = [self.metadata.score_normalisation.apply(run[0][0]) for run in outputs]
        fh, fw = self._frame_hw
        if len(maps) == 1:
            score_maps = maps[0]
            geometry = MapGeometry((fh, fw), fh / score_maps.shape[1], fw / score_maps.shape[2])
        else:
            score_maps, geometry = self._stitch(maps)
        return Findings.from_maps(self.classes, np.ascontiguousarray(score_maps, np.float32), geometry, thresholds)

    def _stitch(self, maps: list[np.ndarray]) -> tuple[np.ndarray, MapGeometry]:
        """Tile maps on one canvas at the tiles' map resolution; overlaps keep the higher score."""
        fh, fw = self._frame_hw
        y0, y1, x0, x1 = self._windows[0]
        scale_y, scale_x = (y1 - y0) / maps[0].shape[1], (x1 - x0) / maps[0].shape[2]
        canvas_h, canvas_w = max(1, round(fh / scale_y)), max(1, round(fw / scale_x))
        canvas = np.full((maps[0].shape[0], canvas_h, canvas_w), -np.inf, np.float32)
        for (ty0, ty1, tx0, tx1), tile_map in zip(self._windows, maps):
            cy0, cx0 = round(ty0 / scale_y), round(tx0 / scale_x)
            ch, cw = min(tile_map.shape[1], canvas_h - cy0), min(tile_map.shape[2], canvas_w - cx0)
            region = canvas[:, cy0 : cy0 + ch, cx0 : cx0 + cw]
            np.maximum(region, tile_map[:, :ch, :cw], out=region)
        canvas[~np.isfinite(canvas)] = canvas[np.isfinite(canvas)].min()
        return canvas, MapGeometry((fh, fw), fh / canvas_h, fw / canvas_w)
