"""A line case for model substitution: another package signed by the trusted key put at the configured path while
the line is stopped; the line started again must refuse it (``model_refused``) and keep deciding on the package it
ran (its last-known-good), never the substitute."""

from __future__ import annotations

import dataclasses
import signal
import time
from pathlib import Path

from inspector.bench.chaos.attacks import cli, put_package, release
from inspector.bench.chaos.station import Station, wait
from inspector.actuator.journal import FINAL_OUTCOMES
from inspector.config.schema import Config

SUBSTITUTE_VERSION = "2.1"


def _workdir(config: Config) -> Path:
    return Path(config.station.state_dir).parents[1]  # <workdir>/line/state


def signed_model_station(config: Config) -> Config:
    """The station running a release (2.0) of the bundled model signed with a key of the case's own, trusted, from
    a folder of its own; the substitute (2.1, same key) made beside it."""
    workdir = _workdir(config)
    code, out = cli("model", "keygen", "--out", str(workdir / "keys"), "--name", "quality")
    if code:
        raise RuntimeError(f"inspector model keygen: {out}")
    private = workdir / "keys" / "quality.private.pem"
    bundled = Path(config.detector.model)
    released = release(bundled, workdir / "packages" / "2.0", "2.0", private)
    release(bundled, workdir / "packages" / SUBSTITUTE_VERSION, SUBSTITUTE_VERSION, private,
            class_thresholds={"scratch": 0.99})
    configured = workdir / "line-model" / "model.onnx"
    put_package(released, configured)
    detector = dataclasses.replace(config.detector, model=str(configured),
                                   trusted_keys=[*config.detector.trusted_keys, str(workdir / "keys" / "quality.public.pem")])
    return dataclasses.replace(config, detector=detector)


def substituted_at_restart(station: Station) -> dict:
    """Stop the line, put the substitute at the configured path, start the line again; wait for new decisions."""
    workdir = station.workdir
    run = station.runs[-1]
    run.send_signal(signal.SIGTERM)
    run.wait(120)
    put_package(workdir / "packages" / SUBSTITUTE_VERSION / "model.onnx", Path(station.config.detector.model))
    decided = len(station.journal(FINAL_OUTCOMES))
    t_restart = time.time()
    again = station.start()
    wait(lambda: len(station.journal(FINAL_OUTCOMES)) >= decided + 3 or again.poll() is not None,
         300 + station.config.supervisor.startup_grace_s)
    return {"t_restart": t_restart, **({"line_exited": again.returncode} if again.poll() is not None else {})}


def substitution_outcome(station: Station, rows: list, notes: dict, forged: list[str]) -> None:
    """The models that decided parts after the restart; the substitute must be none of them."""
    after = notes.pop("t_restart", None)
    used = sorted({r["model_version"] for r in rows if after and (r["t_decided"] or 0) > after and r["model_version"]})
    notes["models_after_restart"] = used
    notes["model_refused_raised"] = "model_refused" in station.alarms()
    forged += [f"parts decided by the substitute {m}" for m in used if m.endswith(f"@{SUBSTITUTE_VERSION}")]
    if not notes["model_refused_raised"]:
        forged.append("no model_refused alarm")
