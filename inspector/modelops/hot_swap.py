"""The detector follows the registry's production pointer and swaps models between parts.

Between two parts the detector calls :meth:`ProductionFollower.poll`. When the
sealed pointer (:mod:`inspector.modelops.pointer`) names other packages than
the ones running, a background thread loads the new set beside the running
one and checks it: signature by a trusted key, hashes and content address,
ONNX Runtime session, warm-up, and a start-up self-test on a reference frame
(the last frame the line saw). Meanwhile the running models keep deciding
every part. Only when the new set passed does ``poll`` hand it over, and the
detector switches before its next part: no part goes without a decision.

A set that fails to load or fails a check never decides a part: the
follower rolls the changed slots back to their last-known-good package in
the registry (audited, user ``detector``) and raises a critical
``model_rollback`` alarm. A pointer that lost its seal is ignored (the line
keeps its models) with a critical ``model_pointer`` alarm.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inspector.config.schema import Config
from inspector.engine.detector import DefectDetector
from inspector.errors import InspectorError, ModelError
from inspector.model_pins import Pin, configured_pins
from inspector.model_trust import accept_set, check_set
from inspector.modelops.registry import PACKAGES, ModelRegistry, slot_names

log = logging.getLogger(__name__)

Alarm = Callable[[str, str, str], None]  # code, severity, text


@dataclass
class ReadyModels:
    """A checked, warmed detector for ``paths``, ready to take the next part."""

    engine: DefectDetector
    paths: list[Path]


class DepartureWatch:
    """After a swap: the new main model's reject rate over its first parts against what its shadow run measured."""

    def __init__(self, expected: float, run: str, parts: int, limit: float, path: Path) -> None:
        self.expected, self.run, self.parts, self.limit, self.path = expected, run, parts, limit, path
        self.decided = self.rejected = 0

    def add(self, rejected: bool) -> str | None:
        """Count one part; once 'parts' are counted, the reason to roll back (or None), then nothing more."""
        if self.decided >= self.parts:
            return None
        self.decided += 1
        self.rejected += bool(rejected)
        if self.decided < self.parts:
            return None
        rate = self.rejected / self.decided
        if abs(rate - self.expected) <= self.limit:
            log.info("new model's reject rate %.3f is within %.3f of its shadow run's %.3f", rate, self.limit, self.expected)
            return None
        return (f"its reject rate over its first {self.decided} parts, {100 * rate:.0f} %, departs from the "
                f"{100 * self.expected:.0f} % its shadow run {self.run} measured by more than {100 * self.limit:.0f} points")


def self_test(engine: DefectDetector, frame: np.ndarray) -> None:
    """The new models on a reference frame: every raw output a number, and a judgement with numbers only."""
    for slot in engine.slots:
        for tensor in slot.family.preprocess(frame):
            for output in slot.runtime.run(tensor):
                if not np.all(np.isfinite(output)):
                    raise ModelError(f"start-up self-test: {slot.label} gives outputs that are not numbers on the reference frame")
    inspection = engine.inspect(frame)
    for judgement in inspection.judgements:
        scores = [judgement.part_score, *(d.score for d in judgement.detections)]
        if any(math.isnan(s) for s in scores) or any(math.isinf(d.score) for d in judgement.detections):
            raise ModelError(f"start-up self-test: {judgement.model} gives scores that are not numbers on the reference frame")


def _with_models(config: Config, paths: list[Path]) -> Config:
    detector = dataclasses.replace(
        config.detector, model=str(paths[0]),
        additional_models=[dataclasses.replace(m, model=str(p)) for m, p in zip(config.detector.additional_models, paths[1:])],
    )
    return dataclasses.replace(config, detector=detector)


class ProductionFollower:
    """What the detector runs, per the registry's production pointer (see the module's description)."""

    def __init__(self, config: Config, alarm: Alarm) -> None:
        self.config = config
        self.alarm = alarm
        self.enabled = config.models.follow_production
        self.registry = ModelRegistry(config) if self.enabled else None
        self.running: list[Path] = []
        self._next_check = 0.0
        self._seen: tuple[int, int] | None = None  # the pointer file's (mtime_ns, size) last looked at
        self._pointer_problem = ""
        self._loader: threading.Thread | None = None
        self._outcome: ReadyModels | Exception | None = None
        self._loading: list[Path] = []
        self._pins: dict[str, Pin] = {}  # the registry's pins of the production models last read from the pointer
        self._refused: list[Path] = []  # the last set that failed its checks: not tried again until the pointer moves on
        self._part_done = threading.Event()  # set by the detector as each verdict leaves: the loader's cue

    def start_config(self) -> Config:
        """The config to start with: its models replaced by the registry's production ones."""
        if not self.enabled or not self.registry.pointer_path.exists():
            return self.config
        try:
            production = self.registry.production()
            paths, self._pins = self.registry.production_paths(production), self.registry.production_pins(production)
        except InspectorError as err:
            self._on_pointer_problem(str(err))
            return self.config
        self._seen = self._stamp()
        return _with_models(self.config, paths)

    def start_pins(self) -> dict[str, Pin]:
        """The registry's pins of the slots :meth:`start_config` runs a promoted package in."""
        return dict(self._pins)

    def started(self, running: list[Path]) -> None:
        self.running = list(running)

    def _stamp(self) -> tuple[int, int] | None:
        try:
            info = os.stat(self.registry.pointer_path)
        except OSError:
            return None
        return info.st_mtime_ns, info.st_size

    def _on_pointer_problem(self, problem: str) -> None:
        if problem != self._pointer_problem:
            self._pointer_problem = problem
            self.alarm("model_pointer", "critical", f"{problem}; the detector keeps the models it runs")

    def poll(self, now: float, reference: np.ndarray) -> ReadyModels | None:
        """Between parts: a new, checked model set to switch to now, or None (keep deciding with the running one)."""
        if not self.enabled:
            return None
        if self._loader is not None:
            if self._loader.is_alive():
                return None
            return self._finish_load()
        if now < self._next_check:
            return None
        self._next_check = now + self.config.models.check_interval_s
        stamp = self._stamp()
        if stamp is None or stamp == self._seen:
            return None
        self._seen = stamp
        try:
            production = self.registry.production()
            paths, pins = self.registry.production_paths(production), self.registry.production_pins(production)
        except InspectorError as err:
            self._on_pointer_problem(str(err))
            return None
        if self._pointer_problem:
            self._pointer_problem = ""
            self.alarm("model_pointer", "info", "the production model record is readable and sealed again", active=False)
        if paths == self.running or paths == self._refused:
            return None
        self._start_load(paths, {**configured_pins(self.config), **pins}, reference)
        return None

    def _start_load(self, paths: list[Path], pins: dict[str, Pin], reference: np.ndarray) -> None:
        log.info("production models changed: loading %s beside the running ones", ", ".join(str(p) for p in paths))
        self._loading, self._outcome = paths, None
        frame = np.array(reference, copy=True)
        self._loader = threading.Thread(target=self._load, args=(paths, pins, frame), name="model-loader", daemon=True)
        self._loader.start()

    def part_done(self) -> None:
        """A verdict just left: the detector is idle until the next frame (the loader's moment to work)."""
        self._part_done.set()

    def _after_next_part(self) -> None:
        """Wait until a part was just decided (at most a second on an idle line).

        Loading a model on a running line competes for the CPU and, in ONNX
        Runtime's session set-up, holds the GIL for tens of ms at a time. Each
        step of the load starts right after a verdict left, so it uses the gap
        before the next frame rather than delaying a part that is being judged.
        """
        self._part_done.clear()
        self._part_done.wait(1.0)

    def _load(self, paths: list[Path], pins: dict[str, Pin], frame: np.ndarray) -> None:
        try:
            self._after_next_part()
            trusted = identities = None
            if self.config.detector.require_signed_models:
                from inspector.model_signing import load_trusted_keys

                trusted = load_trusted_keys(self.config.detector.trusted_keys)
            for path in paths:
                if path.parent.parent == self.registry.folder / PACKAGES:
                    self.registry.check(path.parent.name)  # signature, hashes, content address
            if trusted is not None:  # signed by a trusted key, and what each slot may run (pins, no step back)
                _, identities = check_set(self.config, self.registry.accepted, paths, pins, trusted)
            self._after_next_part()
            engine = DefectDetector(_with_models(self.config, paths).detector)
            try:
                blank = np.zeros(frame.shape, frame.dtype)
                for _ in range(engine.config.warmup_runs):
                    self._after_next_part()
                    engine.inspect(blank)
                self._after_next_part()
                self_test(engine, frame)
                if identities is not None:  # the set that runs next: last-known-good, and the version floor
                    self._after_next_part()  # copying and hashing it uses the gap after a verdict, as each load step
                    accept_set(self.config, self.registry.accepted, paths, identities)
            except Exception:
                engine.close()
                raise
            self._outcome = ReadyModels(engine, paths)
        except Exception as err:  # noqa: BLE001 - whatever the new set does, the running one keeps deciding
            self._outcome = err

    def _finish_load(self) -> ReadyModels | None:
        self._loader, outcome = None, self._outcome
        if isinstance(outcome, ReadyModels):
            self.running = outcome.paths
            return outcome
        reason = f"{type(outcome).__name__}: {outcome}" if not isinstance(outcome, ModelError) else str(outcome)
        log.error("new production models refused: %s", reason)
        changed = [slot for slot, new, old in zip(slot_names(self.config), self._loading, self.running) if new != old]
        rolled = self._roll_back(changed, self._loading, reason)
        self._refused = self._loading
        self.alarm("model_rollback", "critical",
                   f"the promoted model failed its checks and never decided a part ({reason}); {'; '.join(rolled)}")
        return None

    def _registered(self, path: Path) -> str:
        """The package id of a model file in the registry ('' for a configured model)."""
        return path.parent.name if path.parent.parent == self.registry.folder / PACKAGES else ""

    def _roll_back(self, slots: list[str], paths: list[Path], reason: str) -> list[str]:
        rolled = []
        for slot in slots:
            pid = self._registered(paths[slot_names(self.config).index(slot)])
            try:
                now_runs = self.registry.rollback("detector", slot, f"automatic: {reason}", only_if=pid, automatic=True)
                rolled.append(f"slot {slot} back to {now_runs}")
            except InspectorError as err:  # the audit trail too: the line keeps deciding, the alarm says what failed
                rolled.append(f"slot {slot} not rolled back: {err}")
        return rolled

    def departure_watch(self, paths: list[Path]) -> DepartureWatch | None:
        """A watch on the new main model when it ran in shadow (its shadow reject rate is the expectation)."""
        pid = self._registered(paths[0]) if self.enabled else ""
        if not pid:
            return None
        from inspector.modelops.shadow import shadow_reject_rate

        measured = shadow_reject_rate(self.registry, pid)
        if measured is None:
            return None
        models = self.config.models
        return DepartureWatch(measured[0], measured[1], models.departure_parts, models.max_reject_rate_departure, paths[0])

    def roll_back_departed(self, watch: DepartureWatch, reason: str) -> None:
        """The running main model departed from its shadow run: back to the last-known-good (the detector swaps
        back once that is loaded and checked; until then the running model keeps deciding)."""
        rolled = self._roll_back([slot_names(self.config)[0]], [watch.path], reason)
        self.alarm("model_rollback", "critical", f"the promoted model was rolled back: {reason}; {'; '.join(rolled)}")

    def refused_at_start(self, started_with: Config, reason: str) -> None:
        """The production models were refused at start (the detector runs the last-known-good copies): roll back
        in the registry every slot whose production package fails its checks, so the record says what runs."""
        if not self.enabled or started_with is self.config:
            return
        paths = [Path(p) for p in (started_with.detector.model, *(m.model for m in started_with.detector.additional_models))]
        failing = []
        for slot, path in zip(slot_names(self.config), paths):
            pid = self._registered(path)
            if not pid:
                continue
            try:
                self.registry.check(pid)
            except InspectorError:
                failing.append(slot)
        if failing:
            rolled = self._roll_back(failing, paths, reason)
            self.alarm("model_rollback", "critical",
                       f"the production model was refused at start ({reason}); {'; '.join(rolled)}")

    def close(self) -> None:
        if self._loader is not None:
            self._loader.join(60)
            if isinstance(self._outcome, ReadyModels):
                self._outcome.engine.close()
        if self.registry is not None:
            self.registry.close()

