"""What a run of the line did, read back from the recorder's database."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inspector.records.parts import decided_summary_rows
from inspector.synthetic import parse_source, part_is_defective


@dataclass(frozen=True)
class LatencyStats:
    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, values_ms: list[float]) -> "LatencyStats":
        if not values_ms:
            return cls(0, float("nan"), float("nan"), float("nan"))
        arr = np.asarray(values_ms)
        return cls(len(arr), float(np.percentile(arr, 50)), float(np.percentile(arr, 99)), float(arr.max()))


@dataclass(frozen=True)
class GroundTruthScore:
    """How decisions compare with what the synthetic parts really were."""

    defective: int
    defective_rejected: int
    good: int
    good_rejected: int

    @property
    def reject_rate_defective(self) -> float:
        return self.defective_rejected / self.defective if self.defective else float("nan")

    @property
    def reject_rate_good(self) -> float:
        return self.good_rejected / self.good if self.good else float("nan")


@dataclass(frozen=True)
class LineSummary:
    parts: int
    by_result: dict[str, int]
    plc_undelivered: int
    latency: LatencyStats
    ground_truth: GroundTruthScore | None = None
    database: str = ""
    stages_p50_ms: dict[str, float] = field(default_factory=dict)

    @property
    def failsafe(self) -> int:
        return self.by_result.get("FAILSAFE_REJECT", 0) + self.by_result.get("FAILSAFE_PASS", 0)


def summarize(database: Path) -> LineSummary:
    rows = decided_summary_rows(database)
    by_result: dict[str, int] = {}
    for result, *_ in rows:
        by_result[result] = by_result.get(result, 0) + 1
    latencies = [r[1] for r in rows if r[1] is not None]
    return LineSummary(
        parts=len(rows),
        by_result=by_result,
        plc_undelivered=sum(1 for r in rows if not r[2]),
        latency=LatencyStats.of(latencies),
        ground_truth=_score_synthetic([(r[3], r[0]) for r in rows]),
        database=str(database),
        stages_p50_ms=_stage_medians([r[5] for r in rows if r[5]]),
    )


def _stage_medians(timings_json: list[str]) -> dict[str, float]:
    stages: dict[str, list[float]] = {}
    for text in timings_json:
        for stage, ms in json.loads(text).items():
            stages.setdefault(stage, []).append(ms)
    return {stage: float(np.median(v)) for stage, v in stages.items()}


def _score_synthetic(sources_results: list[tuple[str | None, str]]) -> GroundTruthScore | None:
    """Score parts whose frames came from the synthetic generator (others are skipped)."""
    counts = {"defective": 0, "defective_rejected": 0, "good": 0, "good_rejected": 0}
    for source, result in sources_results:
        parsed = parse_source(source)
        if parsed is None:
            continue
        seed, defect_rate, index = parsed
        kind = "defective" if part_is_defective(seed, defect_rate, index) else "good"
        counts[kind] += 1
        counts[f"{kind}_rejected"] += int(result in ("REJECT", "FAILSAFE_REJECT"))
    if not counts["defective"] and not counts["good"]:
        return None
    return GroundTruthScore(**counts)
