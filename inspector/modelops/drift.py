"""Drift: the line's images, scores and reject rate moving away from a reference.

Per camera the detector keeps the first ``drift.reference_parts`` parts as the
reference and the latest ``drift.window_parts`` as the window, and after each
verdict has been sent compares them:

* **brightness**: mean grey level of the window against the reference (8-bit levels),
* **contrast**: mean grey-level standard deviation, as a share of the reference's,
* **scores**: population stability index (PSI, up to 10 bins, about 20 window
  parts a bin) of the first model's part scores against the reference scores: the production model's scores on the golden set
  when it passed a gate (the gate's distribution), else the reference parts',
* **reject rate**: absolute difference from the reference parts',
* **latency**: the models' mean time per part (pre-processing, inference,
  post-processing), as a share above the reference parts'.

Each check raises a warning alarm (``drift_brightness``, ``drift_contrast``,
``drift_scores``, ``drift_reject_rate``, ``drift_latency``) when it crosses its limit and clears
it when it is back. A model swap starts a new score, reject-rate and
latency reference. The image statistics are taken on every fourth pixel of every
fourth row, after the verdict left.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from inspector.config.schema import DriftConfig

Alarm = Callable[..., None]  # code, severity, text, active=..., part_id=..., source=... (an AlarmOwner)

PSI_BINS = 10


def psi(reference: Sequence[float], window: Sequence[float], bins: int = PSI_BINS) -> float:
    """Population stability index of ``window`` against ``reference``, on the reference's quantile bins."""
    ref = np.asarray(reference, float)
    cur = np.asarray(window, float)
    if ref.size == 0 or cur.size == 0:
        return 0.0
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    ref_share = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=edges.size + 1) / ref.size
    cur_share = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=edges.size + 1) / cur.size
    eps = 1e-4
    ref_share, cur_share = np.maximum(ref_share, eps), np.maximum(cur_share, eps)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))


@dataclass
class _Series:
    """One camera's reference and window."""

    reference_size: int
    window_size: int
    ref_brightness: list[float] = field(default_factory=list)
    ref_contrast: list[float] = field(default_factory=list)
    ref_scores: list[float] = field(default_factory=list)
    ref_rejects: list[bool] = field(default_factory=list)
    ref_latency: list[float] = field(default_factory=list)
    brightness: deque = field(default_factory=deque)
    contrast: deque = field(default_factory=deque)
    scores: deque = field(default_factory=deque)
    rejects: deque = field(default_factory=deque)
    latency: deque = field(default_factory=deque)

    def add(self, brightness: float, contrast: float, score: float, rejected: bool, latency_ms: float) -> None:
        if len(self.ref_brightness) < self.reference_size:
            self.ref_brightness.append(brightness)
            self.ref_contrast.append(contrast)
        if len(self.ref_scores) < self.reference_size:
            self.ref_scores.append(score)
            self.ref_rejects.append(rejected)
            self.ref_latency.append(latency_ms)
        for values, value in ((self.brightness, brightness), (self.contrast, contrast), (self.scores, score),
                              (self.rejects, rejected), (self.latency, latency_ms)):
            values.append(value)
            if len(values) > self.window_size:
                values.popleft()

    def new_model(self) -> None:
        for values in (self.ref_scores, self.ref_rejects, self.ref_latency, self.scores, self.rejects, self.latency):
            values.clear()


class DriftMonitor:
    """In the detector: one reference and window per camera, alarms when they drift apart (see the module's description)."""

    def __init__(self, config: DriftConfig, alarm: Alarm, gate_scores: Sequence[float] = ()) -> None:
        self.config = config
        self.alarm = alarm
        self.gate_scores = list(gate_scores)
        self.series: dict[str, _Series] = {}
        self.active: dict[tuple[str, str], bool] = {}

    def new_model(self, gate_scores: Sequence[float] = ()) -> None:
        """A model swap: scores and reject rate start a new reference."""
        self.gate_scores = list(gate_scores)
        for series in self.series.values():
            series.new_model()

    def observe(self, camera: str, frame: np.ndarray, score: float, rejected: bool, part_id: int,
                latency_ms: float = 0.0) -> dict[str, float]:
        """Add one decided part; returns the drift measures now (empty until reference and window are full)."""
        if not self.config.enabled:
            return {}
        sample = frame[::4, ::4]
        if sample.dtype == np.uint16:
            sample = sample / 257.0
        series = self.series.setdefault(camera, _Series(self.config.reference_parts, self.config.window_parts))
        series.add(float(sample.mean()), float(sample.std()), score if math.isfinite(score) else -1.0, rejected, latency_ms)
        measures = self._measures(series)
        limits = {
            "brightness": self.config.max_brightness_shift, "contrast": self.config.max_contrast_change,
            "scores": self.config.max_score_psi, "reject_rate": self.config.max_reject_rate_change,
            "latency": self.config.max_latency_increase,
        }
        for name, value in measures.items():
            self._judge(camera, name, value, limits[name], part_id)
        return measures

    def _measures(self, s: _Series) -> dict[str, float]:
        out: dict[str, float] = {}
        full = self.config.window_parts
        if len(s.ref_brightness) >= s.reference_size and len(s.brightness) >= full:
            out["brightness"] = abs(float(np.mean(s.brightness)) - float(np.mean(s.ref_brightness)))
            reference_contrast = float(np.mean(s.ref_contrast))
            out["contrast"] = abs(float(np.mean(s.contrast)) - reference_contrast) / max(reference_contrast, 1e-6)
        score_reference_full = len(s.ref_scores) >= s.reference_size
        if len(s.scores) >= full and (self.gate_scores or score_reference_full):
            bins = min(PSI_BINS, max(2, len(s.scores) // 20))  # about 20 window parts a bin, so noise alone stays small
            out["scores"] = psi(self.gate_scores or s.ref_scores, list(s.scores), bins)
        if score_reference_full and len(s.rejects) >= full:
            out["reject_rate"] = abs(float(np.mean(s.rejects)) - float(np.mean(s.ref_rejects)))
            reference_latency = float(np.mean(s.ref_latency))
            if reference_latency > 0:
                out["latency"] = max(0.0, float(np.mean(s.latency)) / reference_latency - 1.0)
        return out

    def _judge(self, camera: str, name: str, value: float, limit: float, part_id: int) -> None:
        drifted = value > limit
        if drifted == self.active.get((camera, name), False):
            return
        self.active[(camera, name)] = drifted
        what = {"brightness": f"mean brightness moved {value:.1f} grey levels", "contrast": f"contrast changed {100 * value:.0f} %",
                "scores": f"part-score distribution PSI {value:.2f}", "reject_rate": f"reject rate moved {100 * value:.0f} points",
                "latency": f"time per part rose {100 * value:.0f} %"}[name]
        if drifted:
            self.alarm(f"drift_{name}", "warning",
                       f"camera {camera}: {what} from the reference over the last {self.config.window_parts} parts "
                       f"(limit {limit:g}); check lighting, camera and parts, consider retraining", part_id=part_id,
                       source=f"camera:{camera}")
        else:
            self.alarm(f"drift_{name}", "info", f"camera {camera}: {name.replace('_', ' ')} back within its limit ({what})",
                       active=False, part_id=part_id, source=f"camera:{camera}")
