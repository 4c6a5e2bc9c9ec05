"""The defect detector: every model of the station on one frame, and the one decision rule.

A station runs one model (``detector.model``) or several
(``detector.additional_models``). Each is a :class:`ModelSlot`: its package,
its family plug-in (pre- and post-processing), its runtime (ONNX Runtime
session, I/O binding, keep-warm) and its decision rules. A frame goes
through every slot; the part is rejected if any model rejects it, and the
:class:`Inspection` says which did and why.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from inspector.config.schema import AdditionalModel, DetectorConfig
from inspector.engine.decision_rules import DecisionRules, Judgement
from inspector.engine.families import family_class
from inspector.engine.families.base import ModelFamily
from inspector.engine.model_package import ModelPackage, load_model_package
from inspector.engine.runtime import ModelRuntime
from inspector.errors import ConfigError
from inspector.messages import Detection

log = logging.getLogger(__name__)

STAGES = ("preprocess", "inference", "postprocess")


@dataclass(frozen=True)
class Inspection:
    """What the models found on one frame, the decision, and how long each stage took (ms, all models)."""

    judgements: list[Judgement]
    timings_ms: dict[str, float]

    @property
    def detections(self) -> list[Detection]:
        return [d for j in self.judgements for d in j.detections]

    @property
    def rejected(self) -> bool:
        return any(j.rejected for j in self.judgements)

    @property
    def rejected_by(self) -> list[str]:
        """The models that rejected the part."""
        return [j.model for j in self.judgements if j.rejected]

    @property
    def defect_score(self) -> float:
        """The first model's part score (its highest detection score or map peak)."""
        return self.judgements[0].part_score

    def reason(self) -> str:
        """Why the part was rejected, in words ('' when it passed)."""
        parts = []
        for j in self.judgements:
            if not j.rejected:
                continue
            classes = sorted({d.cls for d in j.detections if d.causes_reject}) or sorted(
                c for c, level in j.levels.items() if level > float("-inf")
            )
            parts.append(f"{j.model}: {', '.join(classes)}")
        return "; ".join(parts)


class ModelSlot:
    """One model of the station: package, family, runtime and decision rules."""

    def __init__(
        self,
        config: DetectorConfig,
        package: ModelPackage,
        class_thresholds: dict[str, float],
        min_area_px: float,
        min_area_mm2: dict[str, float],
        field: str = "detector",
        score_floor: float | None = None,
    ) -> None:
        self.package = package
        meta = package.metadata
        self.family: ModelFamily = family_class(meta.family)(meta, config, score_floor)
        self.runtime = ModelRuntime(str(package.onnx_path), config)
        try:
            self.family.check_model(self.runtime.input_shape, self.runtime.output_shapes)
            self.rules = DecisionRules.build(
                meta.classes, class_thresholds, meta.class_thresholds, self.family.rule_score_floor(), min_area_px,
                min_area_mm2, field,
            )
        except Exception:
            self.runtime.close()
            raise
        self.runtime.bind(self.family.input_tensor)
        if self.family.uses_min_confidence:
            floor = self.family.settings.min_confidence
            chosen = {**meta.class_thresholds, **class_thresholds}
            masked = [c for c, t in chosen.items() if t < floor]
            if masked:
                log.warning(
                    "%s %.3f is above the reject threshold of %s in %s: those classes reject only from %.3f",
                    self.family.settings_path("min_confidence"), floor, ", ".join(sorted(masked)), meta.label, floor,
                )

    @property
    def label(self) -> str:
        return self.package.metadata.label

    def inspect(self, frame: np.ndarray, mm_per_px: float | None, timings: dict[str, float]) -> Judgement:
        """Judge one frame; adds this model's stage times to ``timings``."""
        t0 = time.perf_counter()
        outputs = []
        inference = 0.0
        copy = self.family.runs_per_frame > 1  # the bound output arrays are overwritten by the next run
        for tensor in self.family.preprocess(frame):
            t1 = time.perf_counter()
            result = self.runtime.run(tensor)
            inference += time.perf_counter() - t1
            outputs.append([o.copy() for o in result] if copy else result)
        t2 = time.perf_counter()
        findings = self.family.postprocess(outputs, self.rules.thresholds)
        judgement = self.rules.judge(findings, self.label, mm_per_px)
        t3 = time.perf_counter()
        timings["preprocess"] += (t2 - t0 - inference) * 1000
        timings["inference"] += inference * 1000
        timings["postprocess"] += (t3 - t2) * 1000
        return judgement

    def close(self) -> None:
        self.runtime.close()


class DefectDetector:
    """Runs one frame at a time through every model of the station and decides.

    ``package``: the main model's package, already loaded (default: loaded
    from ``config.model``). ``score_floor``: keep scores down to this while
    measuring (``evaluate``, ``export``), so a part's score exists even below
    the line's ``min_confidence`` (``detector.families.yolo``); the decision
    itself is unchanged.
    """

    def __init__(self, config: DetectorConfig, package: ModelPackage | None = None, score_floor: float | None = None) -> None:
        self.config = config
        main = ModelSlot(
            config, package or load_model_package(config.model), config.class_thresholds, config.min_area_px,
            config.min_area_mm2, score_floor=score_floor,
        )
        self.slots = [main]
        try:
            for i, extra in enumerate(config.additional_models):
                self.slots.append(self._additional(config, extra, i, score_floor))
        except Exception:
            self.close()
            raise
        labels = [s.label for s in self.slots]
        if len(set(labels)) != len(labels):
            self.close()
            raise ConfigError("detector.additional_models", f"the same model is configured twice ({', '.join(labels)})")

    @staticmethod
    def _additional(config: DetectorConfig, extra: AdditionalModel, index: int, score_floor: float | None) -> ModelSlot:
        return ModelSlot(
            config, load_model_package(extra.model), extra.class_thresholds, extra.min_area_px, extra.min_area_mm2,
            field=f"detector.additional_models[{index}]", score_floor=score_floor,
        )

    # the main model's parts, for the tools that look at one model (bench, evaluate, export)
    @property
    def package(self) -> ModelPackage:
        return self.slots[0].package

    @property
    def rules(self) -> DecisionRules:
        return self.slots[0].rules

    @property
    def family(self) -> ModelFamily:
        return self.slots[0].family

    @property
    def runtime(self) -> ModelRuntime:
        return self.slots[0].runtime

    @property
    def providers(self) -> list[str]:
        return self.slots[0].runtime.providers

    @property
    def model_version(self) -> str:
        """What verdicts carry: the model's name@version, or every model's joined by '+'."""
        return "+".join(s.label for s in self.slots)

    def model_inputs(self, frame: np.ndarray) -> list[np.ndarray]:
        """Copies of the main model's input tensors for ``frame`` (one per run): what a bare session is given."""
        return [tensor.copy() for tensor in self.family.preprocess(frame)]

    def close(self) -> None:
        """Stop the keep-warm threads (sessions are freed with the detector)."""
        for slot in self.slots:
            slot.close()

    def warm_up(self, frame_shape: tuple[int, ...] = (480, 640)) -> None:
        """Run a few inferences so the first part does not pay for lazy initialisation."""
        blank = np.zeros(frame_shape, np.uint8)
        for _ in range(self.config.warmup_runs):
            self.inspect(blank)

    def inspect(self, frame: np.ndarray, mm_per_px: float | None = None) -> Inspection:
        """Inspect one mono8/mono16/BGR8 frame with every model.

        ``mm_per_px`` is the scale of the camera that took it (from its calibration):
        detections then carry their area in mm² and the per-class mm² minimum applies.
        """
        t0 = time.perf_counter()
        if frame.dtype == np.uint16:
            frame = (frame >> 8).astype(np.uint8)
        timings = dict.fromkeys(STAGES, 0.0)
        timings["preprocess"] += (time.perf_counter() - t0) * 1000
        judgements = [slot.inspect(frame, mm_per_px, timings) for slot in self.slots]
        return Inspection(judgements, timings)
