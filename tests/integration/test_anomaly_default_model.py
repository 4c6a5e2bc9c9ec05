"""The bundled anomaly model, learnt from good synthetic discs alone, catches every synthetic defect class.

It was trained with the anomaly family's default settings, the same ones as
on the magnetic tiles (``inspector retrain-default-model --family anomaly``),
and never saw a defect. Here it inspects discs of a generator seed neither
its training, its threshold nor its recorded hold-out used, through the
line's own engine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from inspector.config.schema import DetectorConfig
from inspector.engine.detector import DefectDetector
from inspector.engine.model_package import load_model_package
from inspector.synthetic import DEFECT_CLASSES, PartGenerator
from inspector.training.backends.anomaly import AnomalySettings

MODEL = Path(__file__).resolve().parents[2] / "inspector" / "models" / "anomaly" / "model.onnx"
PARTS = 150
UNSEEN_SEED = 77  # training used seed 1, its recorded hold-out seed 2, the demo camera seed 1000


@pytest.fixture(scope="module")
def inspections():
    detector = DefectDetector(DetectorConfig(model=str(MODEL), providers=["CPUExecutionProvider"], warmup_runs=0))
    generator = PartGenerator(defect_rate=0.6, seed=UNSEEN_SEED)
    try:
        yield [(part, detector.inspect(part.image)) for part in (generator.part(i) for i in range(PARTS))]
    finally:
        detector.close()


def test_it_was_learnt_from_good_parts_with_the_family_s_default_settings():
    meta = load_model_package(MODEL).metadata
    assert meta.family == "anomaly" and meta.classes == ["anomaly"]
    defaults = AnomalySettings()
    assert meta.training["taps"] == list(defaults.taps) and meta.training["backbone"] == defaults.backbone
    assert meta.training["bank_size"] == defaults.bank_size and meta.training["standardise"] == defaults.standardise
    assert meta.metrics["holdout"]["escape_rate"] <= 0.02 and meta.metrics["holdout"]["false_reject_rate"] <= 0.01


def test_every_defect_class_is_caught_and_good_discs_pass(inspections):
    caught = {cls: [] for cls in DEFECT_CLASSES}
    false_rejects = 0
    good = 0
    for part, inspection in inspections:
        if part.is_defective:
            for defect in part.defects:
                caught[defect.cls].append(inspection.rejected)
        else:
            good += 1
            false_rejects += inspection.rejected
    for cls, rejected in caught.items():
        assert rejected and sum(rejected) / len(rejected) >= 0.95, f"{cls}: {sum(rejected)}/{len(rejected)} caught"
    assert good > 40 and false_rejects <= 2


def test_its_regions_lie_on_the_defects_it_was_never_shown(inspections):
    hits = total = 0
    for part, inspection in inspections:
        if not (part.is_defective and inspection.rejected):
            continue
        rejecting = [d for d in inspection.detections if d.causes_reject]
        assert rejecting and all(d.cls == "anomaly" and len(d.outline) >= 3 for d in rejecting)
        for defect in part.defects:
            total += 1
            x1, y1, x2, y2 = defect.box
            hits += any(d.box[0] <= x2 + 16 and x1 - 16 <= d.box[2] and d.box[1] <= y2 + 16 and y1 - 16 <= d.box[3] for d in rejecting)
    assert total and hits / total >= 0.8
