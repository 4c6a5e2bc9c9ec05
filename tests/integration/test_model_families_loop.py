"""Every trainable family end to end, as a quality engineer runs it, with real training, ONNX Runtime and processes.

A handful of small synthetic parts, tiny settings: the models are not
expected to be good, only to go through every step a real one does:
``dataset import`` -> ``train`` -> ``export`` -> the line's ``DefectDetector``
-> a running line (camera, detector service, actuator, recorder, PLC
simulator) deciding parts -> ``evaluate``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.config.schema import DetectorConfig
from inspector.datasets_tool import load_dataset
from inspector.engine.detector import DefectDetector
from inspector.engine.model_package import load_model_package
from inspector.line_runner import part_rows, running_line
from inspector.synthetic import PartGenerator
from inspector.synthetic.dataset import SplitSpec, write_yolo_dataset
from inspector.training.runs import read_run
from tests.helpers import wait_until

pytestmark = pytest.mark.slow

PARTS = 20
RUN_CONFIGS = {
    "anomaly": "family: anomaly\ninput_size: [64, 64]\ntaps: [4, 10]\nbank_size: 64\ncoreset_sample: 4000\ndevice: cpu\n",
    "segmentation": "family: segmentation\ninput_size: [64, 64]\ntaps: [4, 10]\nepochs: 2\nbatch: 4\ndevice: cpu\nthreads: 2\n",
}
CPU = ["CPUExecutionProvider"]


def inspector(*args: str | Path, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    run = subprocess.run(
        [sys.executable, "-m", "inspector", *map(str, args)], cwd=cwd, env=dict(os.environ), capture_output=True,
        text=True, timeout=900,
    )
    if check:
        assert run.returncode == 0, f"inspector {' '.join(map(str, args))} failed:\n{run.stdout}\n{run.stderr[-3000:]}"
    return run


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("families")
    write_yolo_dataset(work / "source", PartGenerator(defect_rate=0.5, seed=7), [SplitSpec("train", 0, PARTS)])
    inspector("dataset", "import", "source", "--layout", "yolo", "--out", "dataset", "--split", "0.5,0.25,0.25", cwd=work)
    return work / "dataset"


@pytest.fixture(scope="module", params=sorted(RUN_CONFIGS))
def package(request, dataset) -> Path:
    """The family's run config -> ``inspector train`` -> ``inspector export``, each by its command."""
    family = request.param
    work = dataset.parent
    (work / f"{family}.yaml").write_text(f"data: dataset\nrun_dir: runs/{family}\n{RUN_CONFIGS[family]}")
    trained = inspector("train", "--config", f"{family}.yaml", cwd=work)
    assert f"trained a {family} model" in trained.stdout
    exported = inspector("export", "--run", f"runs/{family}", "--out", f"package-{family}", cwd=work)
    assert f"({family})" in exported.stdout
    if not (work / "keys" / "quality.private.pem").exists():
        inspector("model", "keygen", "--out", "keys", "--name", "quality", cwd=work)
    inspector("model", "sign", f"package-{family}/model.onnx", "--key", "keys/quality.private.pem", "--signer", "quality@test", cwd=work)
    return work / f"package-{family}" / "model.onnx"


def test_the_run_records_its_family_and_an_anomaly_model_learns_from_good_parts_only(package):
    meta = load_model_package(package).metadata
    run = read_run(package.parents[1] / "runs" / meta.family)
    assert run.state == "finished" and run.family == meta.family and run.train_seconds > 0
    if meta.family == "anomaly":
        good_train = [i for i in load_dataset(package.parents[1] / "dataset").split("train") if not i.defective]
        assert meta.family_settings["details"]["good_images"] == len(good_train)
        assert meta.classes == ["anomaly"]


def test_the_package_carries_its_family_its_score_scale_and_an_operating_point_chosen_on_good_val_parts(package):
    meta = load_model_package(package).metadata
    assert meta.schema_version == 2 and meta.family in RUN_CONFIGS
    assert meta.score_normalisation.basis.startswith("0 = median score of")
    assert meta.score_normalisation.scale > 0
    # 1 is the score meeting the target on val: the stored threshold is just above it
    assert all(1.0 <= t < 1.01 for t in meta.class_thresholds.values())
    assert meta.family_settings["input_scaling"] == {"offset": 127.0, "scale": 128.0}
    val = meta.metrics["validation"]
    assert val["false_reject_rate"] <= 0.01 or val["good_images"] < 100  # met on val, up to one part of a small split
    assert set(meta.metrics) == {"validation", "test"}
    assert all(v is None or math.isfinite(v) for v in (val["auroc"], val["escape_rate"]))


def test_the_line_s_detector_service_decides_parts_with_the_exported_model(package, line_config, tmp_path):
    config = line_config(parts=12, rate_hz=5, model=str(package), trusted_keys=[str(package.parents[1] / "keys")])
    with running_line(config, tmp_path):
        rows = wait_until(lambda: len(part_rows(config)) >= 12 and part_rows(config), 180, "12 decided parts")
    label = load_model_package(package).metadata.label
    assert len({r["part_id"] for r in rows}) == len(rows) >= 12  # one decision per part
    assert {r["source"] for r in rows} == {"verdict"} and {r["model_version"] for r in rows} == {label}
    assert {r["result"] for r in rows} <= {"PASS", "REJECT"}
    for row in rows:
        if row["result"] == "REJECT":
            detections = json.loads(row["detections"])
            assert any(d["causes_reject"] and d["model"] == label for d in detections)


def test_evaluate_decides_each_part_exactly_as_the_line_s_detector_does(package):
    work = package.parents[1]
    family = load_model_package(package).metadata.family
    out = work / f"report-{family}"
    run = inspector("evaluate", "--model", package, "--data", "dataset", "--split", "test", "--out", out, cwd=work)
    assert "AUROC" in run.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["family"] == family and (out / "scores.png").read_bytes()[:4] == b"\x89PNG"
    rows = list(csv.DictReader((out / "scores.csv").open()))
    line = DefectDetector(DetectorConfig(model=str(package), providers=CPU, warmup_runs=0))
    for row, image in zip(rows, load_dataset(work / "dataset").split("test")):
        inspection = line.inspect(image.read())
        assert bool(int(row["rejected"])) == inspection.rejected
        assert float(row["defect_score"]) == pytest.approx(inspection.defect_score, abs=1e-3)
    line.close()
