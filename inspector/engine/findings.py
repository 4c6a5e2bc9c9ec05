"""What a model found on one frame, before the decision rule: one value object for every family.

A family turns its raw outputs into :class:`Findings` with the constructor
that fits it:

- :meth:`Findings.from_boxes`: scored boxes (a detector such as YOLO);
- :meth:`Findings.from_maps`: one score map per class (an anomaly model's
  single ``anomaly`` map, a segmentation model's per-class maps); the regions
  of a map at its class's threshold become the boxes, so every family hands
  the decision rule the same thing.

Scores are the model's normalised scores (see
:class:`~inspector.engine.model_metadata.ScoreNormalisation`); they need not
lie in 0..1. Boxes and areas are in frame pixels.

:meth:`Findings.levels` is what the evaluation needs from a frame: per class,
the highest threshold at which the part would still be rejected, given the
minimum defect area. The line and ``evaluate`` compare those levels with
thresholds through the one decision rule in
:mod:`~inspector.engine.decision_rules`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

NO_LEVEL = float("-inf")  # a class with nothing found: no threshold rejects the part for it


@dataclass(frozen=True)
class MapGeometry:
    """How a score map's pixels lie on the frame: frame x = map x * ``scale_x`` (same for y)."""

    frame_hw: tuple[int, int]
    scale_y: float
    scale_x: float

    @property
    def pixel_area(self) -> float:
        """Frame pixels covered by one map pixel."""
        return self.scale_x * self.scale_y


@dataclass(frozen=True)
class Region:
    """A candidate defect: frame-pixel box, its score, its class, its area (frame pixels)."""

    class_id: int
    score: float
    box: tuple[float, float, float, float]
    area_px: float
    outline: tuple[tuple[float, float], ...] = ()  # map regions: the region's outline in frame pixels


@dataclass(frozen=True)
class Findings:
    """Candidate defects of one model on one frame, and its score maps when it makes them."""

    classes: tuple[str, ...]
    regions: tuple[Region, ...]
    maps: np.ndarray | None = None  # C x h x w normalised scores (map families)
    geometry: MapGeometry | None = None

    @classmethod
    def from_boxes(
        cls, classes: tuple[str, ...], boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray
    ) -> "Findings":
        """Scored boxes (``N x 4`` xyxy frame pixels); a box's area is its width times height."""
        regions = tuple(
            Region(int(c), float(s), (float(b[0]), float(b[1]), float(b[2]), float(b[3])), float((b[2] - b[0]) * (b[3] - b[1])))
            for b, s, c in zip(boxes.tolist(), scores.tolist(), class_ids.tolist())
        )
        return cls(tuple(classes), regions)

    @classmethod
    def from_maps(
        cls,
        classes: tuple[str, ...],
        maps: np.ndarray,
        geometry: MapGeometry,
        thresholds: tuple[float, ...],
        max_regions: int = 100,
    ) -> "Findings":
        """Per-class score maps: the connected regions at or above each class's threshold become candidates.

        A region's score is its peak; its area is the frame pixels it covers
        (not its box). The largest regions are kept when there are more than
        ``max_regions``.
        """
        regions: list[Region] = []
        for cid, (score_map, threshold) in enumerate(zip(maps, thresholds)):
            regions += _regions_at(score_map, threshold, cid, geometry)
        regions.sort(key=lambda r: (-r.area_px, -r.score))
        return cls(tuple(classes), tuple(regions[:max_regions]), maps, geometry)

    def levels(self, min_area_px: tuple[float, ...]) -> tuple[float, ...]:
        """Per class, the highest threshold at which this frame is rejected for it (``NO_LEVEL`` if none).

        ``min_area_px`` is each class's minimum area in frame pixels. For boxes:
        the best score among boxes of at least that area. For maps: the
        highest level at which a connected region of at least that area exists.
        """
        if self.maps is not None and self.geometry is not None:
            return tuple(
                map_level(score_map, area / self.geometry.pixel_area) for score_map, area in zip(self.maps, min_area_px)
            )
        best = [NO_LEVEL] * len(self.classes)
        for r in self.regions:
            if r.area_px >= min_area_px[r.class_id] and r.score > best[r.class_id]:
                best[r.class_id] = r.score
        return tuple(best)

    @property
    def part_score(self) -> float:
        """The part's defect score: the highest score anywhere (a detection's, or a map's peak)."""
        if self.maps is not None and self.maps.size:
            return float(self.maps.max())
        return max((r.score for r in self.regions), default=NO_LEVEL)


def map_level(score_map: np.ndarray, min_pixels: float) -> float:
    """The highest ``t`` such that a connected region of ``score_map >= t`` covers at least ``min_pixels``.

    With no minimum this is the map's peak. Regions only grow as ``t`` falls,
    so a bisection over the map's own values finds it exactly.
    """
    peak = float(score_map.max()) if score_map.size else NO_LEVEL
    if min_pixels <= 1 or not score_map.size:
        return peak
    if min_pixels > score_map.size:
        return NO_LEVEL
    values = np.unique(score_map)[::-1]  # descending
    lo, hi = 0, len(values) - 1  # values[hi] (the minimum) always qualifies: the whole map is one region
    if _largest_region(score_map, values[0]) >= min_pixels:
        return float(values[0])
    while hi - lo > 1:  # invariant: values[lo] fails, values[hi] qualifies
        mid = (lo + hi) // 2
        if _largest_region(score_map, values[mid]) >= min_pixels:
            hi = mid
        else:
            lo = mid
    return float(values[hi])


def _largest_region(score_map: np.ndarray, level: float) -> int:
    mask = (score_map >= level).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    return int(stats[1:, cv2.CC_STAT_AREA].max()) if count > 1 else 0


def _regions_at(score_map: np.ndarray, threshold: float, class_id: int, geometry: MapGeometry) -> list[Region]:
    mask = (score_map >= threshold).astype(np.uint8)
    if not mask.any():
        return []
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    regions = []
    fh, fw = geometry.frame_hw
    for label in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[label])
        component = labels[y : y + h, x : x + w] == label
        peak = float(score_map[y : y + h, x : x + w][component].max())
        box = (
            min(x * geometry.scale_x, fw), min(y * geometry.scale_y, fh),
            min((x + w) * geometry.scale_x, fw), min((y + h) * geometry.scale_y, fh),
        )
        outline = _outline(component, x, y, geometry)
        regions.append(Region(class_id, peak, box, area * geometry.pixel_area, outline))
    return regions


def _outline(component: np.ndarray, x0: int, y0: int, geometry: MapGeometry, max_points: int = 48) -> tuple[tuple[float, float], ...]:
    """The region's outer outline in frame pixels (map pixel centres), simplified to at most ``max_points``."""
    contours, _ = cv2.findContours(component.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return ()
    contour = max(contours, key=cv2.contourArea)
    contour = cv2.approxPolyDP(contour, 0.75, True).reshape(-1, 2)
    if len(contour) < 3:  # a region one cell wide: its cells' outline is their box
        h, w = component.shape
        contour = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])
    if len(contour) > max_points:
        contour = contour[np.linspace(0, len(contour) - 1, max_points).astype(int)]
    fh, fw = geometry.frame_hw
    return tuple(
        (round(min((x0 + px + 0.5) * geometry.scale_x, fw), 1), round(min((y0 + py + 0.5) * geometry.scale_y, fh), 1))
        for px, py in contour.tolist()
    )
