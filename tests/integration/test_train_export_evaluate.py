"""Images to a model the line can load, end to end, with the real commands and a real (tiny) ultralytics training.

A handful of small synthetic parts, one epoch at 64 px: the model is not
expected to be any good, only to go through every step the way a quality
engineer's model does: ``dataset import`` -> ``train`` -> ``export`` ->
load into the line's ``DefectDetector`` -> ``evaluate``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.config.schema import DetectorConfig
from inspector.datasets_tool import load_dataset
from inspector.engine.detector import DefectDetector
from inspector.engine.model_package import load_model_package, sha256_of
from inspector.synthetic import DEFECT_CLASSES, PartGenerator
from inspector.synthetic.dataset import SplitSpec, write_yolo_dataset
from inspector.training.package import LINE_MIN_CONFIDENCE, export_package
from inspector.errors import TrainingError
from inspector.training.backends.yolo import training_images
from inspector.training.runs import load_run_config, read_run, train_run

PARTS = 16  # about 8 train, 4 val, 4 test
RUN_CONFIG = "model: yolov8n.yaml\nimgsz: 64\nepochs: 1\nbatch: 2\ndevice: cpu\nworkers: 0\n"


def inspector(*args: str | Path, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "YOLO_OFFLINE": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "inspector", *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    if check:
        assert run.returncode == 0, f"inspector {' '.join(map(str, args))} failed:\n{run.stdout}\n{run.stderr[-3000:]}"
    return run


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """Source images -> dataset -> training run -> model package, each by its command."""
    work = tmp_path_factory.mktemp("loop")
    write_yolo_dataset(work / "source", PartGenerator(defect_rate=0.6, seed=3), [SplitSpec("train", 0, PARTS)])
    inspector("dataset", "import", "source", "--layout", "yolo", "--out", "dataset", "--split", "0.5,0.25,0.25", cwd=work)
    (work / "run.yaml").write_text(f"data: dataset\nrun_dir: runs/first\n{RUN_CONFIG}")
    inspector("train", "--config", "run.yaml", cwd=work)
    inspector("export", "--run", "runs/first", "--out", "package", cwd=work)
    return work


def test_the_imported_dataset_has_every_split_for_training_and_evaluation(work):
    dataset = load_dataset(work / "dataset")
    assert dataset.classes == list(DEFECT_CLASSES)
    assert sum(dataset.splits.values()) == PARTS and all(dataset.splits.get(s) for s in ("train", "val", "test"))
    test = dataset.split("test")
    assert any(i.defective for i in test) and any(not i.defective for i in test)


def test_training_records_its_run_and_the_dataset_version(work):
    run = read_run(work / "runs/first")
    assert run.state == "finished" and run.family == "yolo"
    assert run.dataset["version"] == load_dataset(work / "dataset").version
    settings = run.run_config(work / "runs/first").settings
    assert settings.imgsz == 64 and settings.epochs == 1 and run.device == "cpu"
    assert Path(run.checkpoint).is_file() and run.train_seconds > 0
    assert sorted(p.name for p in work.iterdir()) == ["dataset", "package", "run.yaml", "runs", "source"]  # nothing else written


def test_the_exported_package_carries_its_metadata_and_loads_into_the_line_engine(work):
    package = load_model_package(work / "package/model.onnx")
    meta = package.metadata
    dataset = load_dataset(work / "dataset")
    assert meta.classes == list(DEFECT_CLASSES) and list(meta.input_size) == [64, 64]
    assert meta.onnx_sha256 == sha256_of(work / "package/model.onnx")
    assert set(meta.class_thresholds) == set(DEFECT_CLASSES)
    assert all(LINE_MIN_CONFIDENCE <= t <= 1.0 for t in meta.class_thresholds.values())  # not under the line's default min confidence
    assert meta.dataset["version"] == dataset.version and meta.dataset["splits"] == dataset.splits
    assert meta.family == "yolo" and meta.schema_version == 2
    assert meta.training["model"] == "yolov8n.yaml" and meta.training["operating_point"]["target_false_reject_rate"] == 0.01
    assert set(meta.metrics) == {"validation", "test"}
    assert meta.metrics["test"]["good_images"] + meta.metrics["test"]["defective_images"] == dataset.splits["test"]
    detector = DefectDetector(DetectorConfig(model=str(work / "package/model.onnx"), providers=["CPUExecutionProvider"]))
    image, _ = next(dataset.samples("test"))
    inspection = detector.inspect(image)
    assert set(inspection.timings_ms) == {"preprocess", "inference", "postprocess"}
    assert all(d.cls in DEFECT_CLASSES for d in inspection.detections)


def test_evaluate_writes_the_report_plots_and_metrics_of_the_test_split(work):
    run = inspector("evaluate", "--model", "package/model.onnx", "--data", "dataset", "--split", "test", "--out", "report",
                    cwd=work)
    assert "false-reject rate" in run.stdout and "AUROC" in run.stdout
    report = work / "report"
    for plot in ("roc.png", "scores.png"):
        assert (report / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (report / "report.md").read_text()
    assert "false-reject rate" in text and "escape rate" in text and "AUROC" in text and "![ROC](roc.png)" in text
    metrics = json.loads((report / "metrics.json").read_text())
    test = load_dataset(work / "dataset").split("test")
    assert metrics["split"] == "test" and metrics["good_images"] + metrics["defective_images"] == len(test)
    assert metrics["defective_images"] == sum(i.defective for i in test)
    for key in ("false_reject_rate", "escape_rate", "auroc"):
        assert 0.0 <= metrics[key] <= 1.0
    assert set(metrics["per_class"]) == {c for i in test for c in i.classes}
    assert all(0.0 <= v["recall"] <= 1.0 for v in metrics["per_class"].values())
    assert metrics["operating_point"]["false_reject_rate"] <= 0.01
    assert metrics["line_thresholds"] == load_model_package(work / "package/model.onnx").metadata.class_thresholds


def test_evaluate_decides_each_part_exactly_as_the_line_s_detector_does(work):
    inspector("evaluate", "--model", "package/model.onnx", "--data", "dataset", "--out", "report-line", cwd=work)
    rows = list(csv.DictReader((work / "report-line/scores.csv").open()))
    line = DefectDetector(DetectorConfig(model=str(work / "package/model.onnx"), providers=["CPUExecutionProvider"]))
    test = load_dataset(work / "dataset").split("test")
    assert [r["file"] for r in rows] == [f"images/test/{i.path.name}" for i in test], "the split's own path"
    assert all(r["imported_from"].startswith("images/train/") for r in rows), "the source folder's own path, apart"
    for row, image in zip(rows, test):
        inspection = line.inspect(image.read())
        assert bool(int(row["rejected"])) == inspection.rejected
        if inspection.detections:
            assert float(row["defect_score"]) == pytest.approx(inspection.defect_score, abs=1e-3)


def test_evaluate_applies_a_station_s_own_thresholds(work, tmp_path):
    station = tmp_path / "station.yaml"
    station.write_text("cameras: [{name: top}]\ndetector: {model: m.onnx, min_confidence: 0.9, class_thresholds: {dent: 0.95}}\n")
    inspector("evaluate", "--model", "package/model.onnx", "--data", "dataset", "--out", tmp_path / "r",
              "--station-config", station, cwd=work)
    metrics = json.loads((tmp_path / "r/metrics.json").read_text())
    assert metrics["line_thresholds"]["dent"] == 0.95 and metrics["line_thresholds"]["scratch"] == 0.9
    assert metrics["line_min_confidence"] == 0.9
    inspector("evaluate", "--model", "package/model.onnx", "--data", "dataset", "--out", tmp_path / "low",
              "--min-confidence", "0.05", cwd=work)
    low = json.loads((tmp_path / "low/metrics.json").read_text())
    assert low["line_min_confidence"] == 0.05
    assert low["line_thresholds"] == load_model_package(work / "package/model.onnx").metadata.class_thresholds


def test_an_interrupted_training_run_resumes_where_it_stopped(work):
    config = load_run_config(None, {"data": str(work / "dataset"), "run_dir": str(work / "runs/resumed"), "imgsz": 64,
                                    "epochs": 2, "batch": 2, "device": "cpu", "workers": 0})

    def power_cut(step) -> None:
        raise KeyboardInterrupt("power cut after the first epoch")

    with pytest.raises(KeyboardInterrupt):
        train_run(config, progress=power_cut)
    assert read_run(work / "runs/resumed").state == "training"
    assert (work / "runs/resumed/train/weights/last.pt").is_file()
    resumed = inspector("train", "--resume", "--run-dir", "runs/resumed", cwd=work)
    assert "epoch 2/2" in resumed.stderr and "epoch 3/2" not in resumed.stderr, "the final validation is no epoch 3 of 2"
    assert "final validation of the best epoch" in resumed.stderr
    run = read_run(work / "runs/resumed")
    assert run.state == "finished" and [s.resumed for s in run.sessions] == [True]
    epochs = (work / "runs/resumed/train/results.csv").read_text().strip().splitlines()[1:]
    assert len(epochs) == 2  # epoch 1 from before the cut, epoch 2 after it
    finished = inspector("train", "--resume", "--run-dir", "runs/resumed", cwd=work, check=False)
    assert finished.returncode == 2 and "nothing to resume" in finished.stderr


def test_a_good_image_fraction_keeps_every_boxed_image_and_a_fixed_share_of_the_good_ones(work):
    dataset = load_dataset(work / "dataset")
    train = {i.path.resolve(): i for i in dataset.split("train")}
    boxed = {path for path, image in train.items() if image.boxes}
    everything = training_images(dataset, 1.0, seed=0)
    assert set(everything) == set(train) and boxed and boxed != set(everything)
    assert set(training_images(dataset, 0.0, seed=0)) == boxed
    half = training_images(dataset, 0.5, seed=0)
    assert boxed <= set(half) <= set(everything) and half == training_images(dataset, 0.5, seed=0)


def test_a_second_training_into_a_used_run_folder_is_refused(work):
    run = inspector("train", "--config", "run.yaml", cwd=work, check=False)
    assert run.returncode == 2 and "holds a training run already" in run.stderr


@pytest.mark.parametrize(
    ("setting", "field"),
    [("epoch: 3", "epoch"), ("imgsz: 100", "imgsz"), ("overrides: {flipudd: 0.5}", "overrides.flipudd"),
     ("overrides: {imgsz: 640}", "overrides.imgsz"), ("good_image_fraction: 1.5", "good_image_fraction")],
)
def test_a_bad_run_config_names_the_field(work, tmp_path, setting, field):
    (tmp_path / "bad.yaml").write_text(f"data: {work / 'dataset'}\nrun_dir: runs/x\n{setting}\n")
    run = inspector("train", "--config", tmp_path / "bad.yaml", cwd=tmp_path, check=False)
    assert run.returncode == 2 and f"config field '{field}'" in run.stderr
    assert not (tmp_path / "runs").exists()


def test_export_refuses_a_run_whose_dataset_changed_since_training(work, tmp_path):
    shutil.copytree(work / "dataset", tmp_path / "dataset")
    manifest = json.loads((tmp_path / "dataset/manifest.json").read_text())
    manifest["version"] = "edited-000000000000"
    (tmp_path / "dataset/manifest.json").write_text(json.dumps(manifest))
    run = json.loads((work / "runs/first/run.json").read_text())
    run["dataset"] = {**run["dataset"], "path": str(tmp_path / "dataset")}
    shutil.copytree(work / "runs/first", tmp_path / "run")
    (tmp_path / "run/run.json").write_text(json.dumps(run))
    with pytest.raises(TrainingError, match="is now edited-000000000000"):
        export_package(tmp_path / "run", tmp_path / "package")
    assert not (tmp_path / "package").exists()


def test_metrics_in_the_package_are_finite_or_null(work):
    meta = json.loads((work / "package/model.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in model.json"))
    for split in meta["metrics"].values():
        assert all(v is None or math.isfinite(v) for v in (split["false_reject_rate"], split["escape_rate"], split["auroc"]))
    assert dataclasses.is_dataclass(load_model_package(work / "package/model.onnx").metadata)


def test_export_says_its_figures_rounded(work):
    """What export prints (and logs, from Inspector's own modules) carries at most four decimals."""
    import re

    run = inspector("export", "--run", "runs/first", "--out", "package-again", cwd=work)
    assert "model package" in run.stdout and "thresholds:" in run.stdout
    ours = [line for line in run.stderr.splitlines() if " inspector." in line]
    long_figures = [line for line in [*run.stdout.splitlines(), *ours] if re.search(r"\d\.\d{5,}", line)]
    assert long_figures == []
