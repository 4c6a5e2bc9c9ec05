"""Synthetic machined parts: a flanged disc under varying light, with defects.

One part family, as on a real line: a turned steel disc with a centre bore and
six bolt holes on a pitch circle, photographed by a mono camera from above on a
dark conveyor. What varies from part to part is what varies on a line:
position and rotation on the belt, illumination level and direction, machining
texture, sensor noise, harmless dust. A defective part carries one or two of
the defect classes in :data:`DEFECT_CLASSES`, each labelled with the box that
encloses the pixels it changed.

Every part is a pure function of ``(seed, index)``: the same generator asked
for part 4711 twice draws the same image and labels, which lets the demo know
the ground truth of any part it inspected without storing anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

DEFECT_CLASSES: tuple[str, ...] = ("scratch", "dent", "crack", "stain", "missing_hole")

BOLT_HOLES = 6


@dataclass(frozen=True)
class DefectLabel:
    """One defect: its class and the pixel box ``(x1, y1, x2, y2)`` it occupies."""

    cls: str
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class SyntheticPart:
    """A rendered part: a mono8 image and the defects drawn on it."""

    index: int
    image: np.ndarray
    defects: tuple[DefectLabel, ...]

    @property
    def is_defective(self) -> bool:
        return bool(self.defects)


@dataclass(frozen=True)
class _Disc:
    cx: float
    cy: float
    radius: float
    bore_radius: float
    pitch_radius: float
    hole_radius: float
    rotation: float

    def hole_centres(self) -> list[tuple[float, float]]:
        step = 2 * math.pi / BOLT_HOLES
        return [
            (
                self.cx + self.pitch_radius * math.cos(self.rotation + k * step),
                self.cy + self.pitch_radius * math.sin(self.rotation + k * step),
            )
            for k in range(BOLT_HOLES)
        ]


class PartGenerator:
    """Draws synthetic parts; deterministic for a given ``seed`` and part index.

    ``defect_rate`` is the probability that a part is defective.
    """

    def __init__(
        self, width: int = 640, height: int = 480, defect_rate: float = 0.5, seed: int = 0
    ) -> None:
        if width < 320 or height < 240:
            raise ValueError(f"synthetic frames must be at least 320x240, got {width}x{height}")
        if not 0.0 <= defect_rate <= 1.0:
            raise ValueError(f"defect_rate must lie in [0, 1], got {defect_rate}")
        self.width = width
        self.height = height
        self.defect_rate = defect_rate
        self.seed = seed
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        self._xx = xx
        self._yy = yy

    def is_defective(self, index: int) -> bool:
        """Whether part ``index`` is defective, without rendering it."""
        return part_is_defective(self.seed, self.defect_rate, index)

    def source(self, index: int) -> str:
        """The frame source string that identifies part ``index`` of this generator."""
        return f"synthetic:seed={self.seed}:defect_rate={self.defect_rate}:index={index}"

    def part(self, index: int) -> SyntheticPart:
        """Render part ``index`` (any non-negative integer)."""
        rng = np.random.default_rng([self.seed, index])
        defective = rng.random() < self.defect_rate
        disc = self._place_disc(rng)
        missing_hole = None
        kinds: list[str] = []
        if defective:
            n_defects = 1 if rng.random() < 0.75 else 2
            kinds = list(rng.choice(DEFECT_CLASSES, size=n_defects, replace=False))
            if "missing_hole" in kinds:
                missing_hole = int(rng.integers(BOLT_HOLES))
        surface = self._render_disc(rng, disc, missing_hole)
        labels = []
        for kind in kinds:
            labels.append(self._draw_defect(rng, kind, surface, disc, missing_hole))
        self._sprinkle_dust(rng, surface, disc)
        image = self._expose(rng, surface)
        return SyntheticPart(index=index, image=image, defects=tuple(labels))

    # -- geometry ---------------------------------------------------------------

    def _place_disc(self, rng: np.random.Generator) -> _Disc:
        radius = self.height * rng.uniform(0.36, 0.42)
        margin = radius + 8
        cx = rng.uniform(margin, self.width - margin)
        cy = rng.uniform(margin, self.height - margin)
        return _Disc(
            cx=cx,
            cy=cy,
            radius=radius,
            bore_radius=radius * rng.uniform(0.2, 0.24),
            pitch_radius=radius * 0.66,
            hole_radius=radius * rng.uniform(0.085, 0.1),
            rotation=rng.uniform(0, 2 * math.pi),
        )

    def _render_disc(
        self, rng: np.random.Generator, disc: _Disc, missing_hole: int | None
    ) -> np.ndarray:
        """The part on the belt as float intensities (0..255), before exposure."""
        dx = self._xx - disc.cx
        dy = self._yy - disc.cy
        r = np.sqrt(dx * dx + dy * dy)
        belt = rng.uniform(28, 48) + rng.normal(0, 3, (self.height, self.width)).astype(np.float32)
        light_angle = rng.uniform(0, 2 * math.pi)
        light_slope = rng.uniform(0.05, 0.25)
        directional = (dx * math.cos(light_angle) + dy * math.sin(light_angle)) / disc.radius
        base = rng.uniform(135, 180)
        rings = 2.5 * np.sin(r * rng.uniform(0.9, 1.4) + rng.uniform(0, 6.3))
        steel = base * (1 + light_slope * directional) - 10 * (r / disc.radius) ** 2 + rings
        surface = np.where(r <= disc.radius, steel, belt)
        edge = (r > disc.radius - 3) & (r <= disc.radius)
        surface[edge] = base * 1.15
        surface[r <= disc.bore_radius + 3] = base * 1.2  # chamfer
        surface[r <= disc.bore_radius] = rng.uniform(15, 30)
        for k, (hx, hy) in enumerate(disc.hole_centres()):
            if k == missing_hole:
                continue
            self._draw_hole(surface, hx, hy, disc.hole_radius, base)
        return surface.astype(np.float32)

    @staticmethod
    def _draw_hole(surface: np.ndarray, x: float, y: float, radius: float, base: float) -> None:
        centre = (round(x), round(y))
        cv2.circle(surface, centre, round(radius + 2), base * 1.18, -1, cv2.LINE_AA)
        cv2.circle(surface, centre, round(radius), 18.0, -1, cv2.LINE_AA)

    # -- defects ----------------------------------------------------------------

    def _point_on_face(self, rng: np.random.Generator, disc: _Disc, keep_out: float) -> tuple[float, float]:
        """A point on the flat face, clear of the bore and the outer edge."""
        inner, outer = disc.bore_radius + keep_out, disc.radius - keep_out
        if inner > outer:  # a small disc: the middle of the face is all there is
            inner = outer = (disc.bore_radius + disc.radius) / 2
        for _ in range(50):
            rad = rng.uniform(inner, outer)
            ang = rng.uniform(0, 2 * math.pi)
            x, y = disc.cx + rad * math.cos(ang), disc.cy + rad * math.sin(ang)
            if all(math.hypot(x - hx, y - hy) > disc.hole_radius + keep_out for hx, hy in disc.hole_centres()):
                return x, y
        return disc.cx + (disc.bore_radius + disc.radius) / 2, disc.cy

    def _draw_defect(
        self,
        rng: np.random.Generator,
        kind: str,
        surface: np.ndarray,
        disc: _Disc,
        missing_hole: int | None,
    ) -> DefectLabel:
        mask = np.zeros(surface.shape, np.uint8)
        if kind == "scratch":
            self._scratch(rng, surface, mask, disc)
        elif kind == "dent":
            self._dent(rng, surface, mask, disc)
        elif kind == "crack":
            self._crack(rng, surface, mask, disc)
        elif kind == "stain":
            self._stain(rng, surface, mask, disc)
        else:
            assert missing_hole is not None
            hx, hy = disc.hole_centres()[missing_hole]
            cv2.circle(mask, (round(hx), round(hy)), round(disc.hole_radius + 4), 255, -1)
        x, y, w, h = cv2.boundingRect(mask)
        return DefectLabel(kind, (x, y, x + w, y + h))

    def _scratch(self, rng, surface, mask, disc) -> None:
        x, y = self._point_on_face(rng, disc, keep_out=20)
        length = rng.uniform(45, 120)
        ang = rng.uniform(0, 2 * math.pi)
        bend = rng.uniform(-0.25, 0.25)
        pts = []
        for t in np.linspace(0, 1, 8):
            a = ang + bend * t
            pts.append((x + length * t * math.cos(a), y + length * t * math.sin(a)))
        layer = self._stroke(pts, int(rng.integers(2, 4)), cv2.LINE_AA, mask, disc)
        contrast = rng.uniform(55, 85) * (1 if rng.random() < 0.5 else -1)
        surface += contrast * layer

    def _dent(self, rng, surface, mask, disc) -> None:
        x, y = self._point_on_face(rng, disc, keep_out=22)
        rx, ry = rng.uniform(8, 15), rng.uniform(7, 13)
        ang = rng.uniform(0, 180)
        centre = (round(x), round(y))
        layer = np.zeros_like(surface)
        cv2.ellipse(layer, centre, (round(rx), round(ry)), ang, 0, 360, 1.0, -1, cv2.LINE_AA)
        layer = cv2.GaussianBlur(layer, (0, 0), 2.0)
        surface -= rng.uniform(50, 80) * layer
        shift = np.float32([[1, 0, 3], [0, 1, 3]])
        rim = cv2.warpAffine(layer, shift, (surface.shape[1], surface.shape[0])) - layer
        surface += 40 * np.clip(rim, 0, 1)
        cv2.ellipse(mask, centre, (round(rx) + 2, round(ry) + 2), ang, 0, 360, 255, -1)

    def _crack(self, rng, surface, mask, disc) -> None:
        x, y = self._point_on_face(rng, disc, keep_out=25)
        heading = rng.uniform(0, 2 * math.pi)
        pts = [(x, y)]
        for _ in range(int(rng.integers(7, 12))):
            heading += rng.uniform(-0.8, 0.8)
            step = rng.uniform(6, 12)
            x, y = x + step * math.cos(heading), y + step * math.sin(heading)
            pts.append((x, y))
        layer = self._stroke(pts, int(rng.integers(2, 4)), cv2.LINE_8, mask, disc)
        surface[:] = surface * (1 - layer) + rng.uniform(10, 30) * layer

    def _stain(self, rng, surface, mask, disc) -> None:
        x, y = self._point_on_face(rng, disc, keep_out=35)
        layer = np.zeros_like(surface)
        for _ in range(int(rng.integers(3, 6))):
            ox, oy = rng.normal(0, 9, 2)
            cv2.circle(layer, (round(x + ox), round(y + oy)), round(rng.uniform(9, 18)), 1.0, -1, cv2.LINE_AA)
        layer = cv2.GaussianBlur(layer, (0, 0), 4.0)
        surface -= rng.uniform(40, 65) * layer
        mask[layer > 0.25] = 255

    def _stroke(self, pts: list, thickness: int, line_type: int, mask: np.ndarray, disc: _Disc) -> np.ndarray:
        """A polyline as a 0..1 layer, also drawn into ``mask``, both kept on the metal face."""
        pts_i = np.round(np.array(pts)).astype(np.int32)
        layer = np.zeros(mask.shape, np.float32)
        cv2.polylines(layer, [pts_i], False, 1.0, thickness, line_type)
        cv2.polylines(mask, [pts_i], False, 255, thickness)
        self._clip_to_face(layer, mask, disc)
        return layer

    @staticmethod
    def _clip_to_face(layer: np.ndarray, mask: np.ndarray, disc: _Disc) -> None:
        """Keep a drawn defect on the metal face: off the belt and out of the bore."""
        face = np.zeros_like(mask)
        centre = (round(disc.cx), round(disc.cy))
        cv2.circle(face, centre, round(disc.radius - 3), 1, -1)
        cv2.circle(face, centre, round(disc.bore_radius + 4), 0, -1)
        layer *= face
        mask *= face

    # -- nuisance and exposure ---------------------------------------------------

    def _sprinkle_dust(self, rng: np.random.Generator, surface: np.ndarray, disc: _Disc) -> None:
        """Harmless specks (1-2 px) that a good detector must ignore."""
        for _ in range(int(rng.integers(0, 6))):
            x, y = self._point_on_face(rng, disc, keep_out=5)
            cv2.circle(surface, (round(x), round(y)), int(rng.integers(1, 2)), float(rng.uniform(60, 220)), -1)

    def _expose(self, rng: np.random.Generator, surface: np.ndarray) -> np.ndarray:
        gain = rng.uniform(0.8, 1.15)
        noisy = surface * gain + rng.normal(0, rng.uniform(1.5, 4.0), surface.shape).astype(np.float32)
        noisy = cv2.GaussianBlur(noisy, (0, 0), rng.uniform(0.5, 1.0))
        return np.clip(noisy, 0, 255).astype(np.uint8)


def part_is_defective(seed: int, defect_rate: float, index: int) -> bool:
    """The first random draw of a part decides whether it is defective."""
    return bool(np.random.default_rng([seed, index]).random() < defect_rate)


def parse_source(source: str | None) -> tuple[int, float, int] | None:
    """``(seed, defect_rate, index)`` of a synthetic frame source string, else None."""
    if not source or not source.startswith("synthetic:"):
        return None
    try:
        fields = dict(item.split("=", 1) for item in source.split(":")[1:])
        return int(fields["seed"]), float(fields["defect_rate"]), int(fields["index"])
    except (KeyError, ValueError):
        return None
