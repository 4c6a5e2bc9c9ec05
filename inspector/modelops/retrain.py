"""``inspector retrain``: reviewed labels to a candidate in shadow, in one command; promotion stays a person's decision.

1. The parts labelled on the review screen (recorder database) become a new
   dataset version (the review screen's export, :func:`inspector.datasets_tool.export.export_dataset`),
   with the production model's classes.
2. A training run on it (the run config chooses the family and settings; the
   dataset and run folder are set here), then the export of a model package.
3. The package is signed when a signing key is given (on a station, the key
   is normally not there: then the command stops here and says how to go on).
4. Installed into the registry, gated against production on the latest golden
   set, and, when it passes and ``shadow_parts`` is set, ordered into shadow.

Every step is audited (``model_retrain``); the result says how far it got.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from inspector.config.schema import Config
from inspector.engine.model_package import load_model_package
from inspector.modelops.registry import ModelRegistry


@dataclass
class RetrainResult:
    dataset: str = ""
    run_dir: str = ""
    package: str = ""  # the exported ONNX file
    signed: bool = False
    installed: str = ""  # package id
    label: str = ""
    gate_passed: bool | None = None  # None: not gated (no golden set, or not installed)
    gate_report: str = ""
    shadow_run: str = ""
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"dataset {self.dataset}", f"training run {self.run_dir}", f"package {self.package}"]
        if self.installed:
            out.append(f"installed {self.label} as {self.installed[:12]}")
        if self.gate_passed is not None:
            out.append(f"gate {'PASSED' if self.gate_passed else 'FAILED'}: {self.gate_report}")
        if self.shadow_run:
            out.append(f"shadow run {self.shadow_run} ordered")
        return out + self.notes


def retrain(config: Config, run_config: Path | None, work_dir: Path, user: str, *, sign_key: Path | None = None,
            signer: str = "", shadow_parts: int = 0, settings: dict | None = None) -> RetrainResult:
    """Run the steps of the module's description; a failing step raises, what was done before it stays recorded."""
    from inspector.datasets_tool.export import export_dataset
    from inspector.modelops.gate import run_gate
    from inspector.modelops.shadow import start_shadow
    from inspector.records.station import StationDatabase
    from inspector.training.package import export_package
    from inspector.training.runs import load_run_config, train_run

    result = RetrainResult()
    with ModelRegistry(config) as registry:
        production = registry.production_paths()[0]
        classes = load_model_package(production).metadata.classes
        db = StationDatabase(config.recorder.database)
        try:
            exported = export_dataset(db.labelled_parts(), list(classes), work_dir / "datasets", source=str(db.path))
        finally:
            db.close()
        result.dataset = exported.version
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_dir = work_dir / "runs" / f"{exported.version}-{stamp}"
        run = load_run_config(run_config, {**(settings or {}), "data": str(exported.path), "run_dir": str(run_dir)})
        train_run(run)
        result.run_dir = str(run_dir)
        package = export_package(run_dir, work_dir / "packages" / f"{exported.version}-{stamp}")
        result.package = str(package.onnx_path)
        registry.trail.record(user, "model_retrain", str(package.onnx_path), None,
                              {"dataset": exported.version, "images": exported.images, "run_dir": str(run_dir)})
        if sign_key is None:
            result.notes.append("not signed (no --sign-key): sign the package where the release key is "
                                "('inspector model sign'), then 'inspector model install', 'gate' and 'shadow'")
            return result
        from inspector.model_signing import sign_package

        sign_package(package.onnx_path, sign_key, signer or user)
        result.signed = True
        installed, _ = registry.install(package.onnx_path, user)
        result.installed, result.label = installed.package_id, installed.label
        golden = registry.golden()
        if not golden.versions():
            result.notes.append("no golden set: build one ('inspector golden add|build'), then 'inspector model gate'")
            return result
        report, path = run_gate(registry, golden, installed.package_id, user)
        result.gate_passed, result.gate_report = report.passed, str(path.with_suffix(".md"))
        if not report.passed:
            result.notes.append("the candidate failed its gate: " + "; ".join(report.reasons))
        elif shadow_parts > 0:
            result.shadow_run = start_shadow(registry, installed.package_id, user, shadow_parts).run
        result.notes.append("promotion stays a person's decision: 'inspector model promote' when the shadow report is good")
    return result


