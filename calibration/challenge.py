"""Challenge parts: proof, each shift, that the station still rejects what it must.

A station's config lists known-good and known-bad reference images
(``calibration.challenge_parts``). A verification runs each through the
station's own detector (same model, providers, thresholds, decision rules,
undistortion and pixel scale as the line) and passes only if every known-bad
part is rejected and every known-good part passes. The result, part by part,
is appended to the audit trail as a ``verification`` entry.

With ``calibration.require_verification`` a station reports no PASS verdicts
until a verification with the model it is running has passed within
``calibration.verification_valid_h``: :class:`VerificationGate` answers that
from the audit trail (whose chain must be intact).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from calibration import CalibrationError
from calibration.station import calibration_paths, camera_name, camera_optics, open_audit_trail, read_image, resolve_path
from inspector.audit import AuditEntry, AuditTrail
from inspector.config.schema import Config
from inspector.engine.detector import DefectDetector
from inspector.errors import InspectorError
from inspector.messages import Detection, to_builtins
from inspector.model_trust import require_trusted

log = logging.getLogger(__name__)

VERIFICATION_ACTION = "verification"


@dataclass(frozen=True)
class ChallengeOutcome:
    name: str
    camera: str
    image: str
    expect: str  # "pass" | "reject"
    got: str  # "PASS" | "REJECT"
    detections: list[Detection] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.got == self.expect.upper()

    def describe(self) -> str:
        causes = [d for d in self.detections if d.causes_reject]
        shown = causes or sorted(self.detections, key=lambda d: -d.score)[:1]
        what = ", ".join(_detection_text(d) for d in shown) if shown else "no detections"
        kind = "known-bad" if self.expect == "reject" else "known-good"
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.name:<20} {kind:<10} expected {self.expect.upper():<6} got {self.got:<6} ({what})"


def _detection_text(d: Detection) -> str:
    size = f"{d.area_mm2:.1f} mm²" if d.area_mm2 is not None else f"{d.area_px:.0f} px²"
    return f"{d.cls} {d.score:.2f} {size}{'' if d.causes_reject else ', below the reject rules'}"


@dataclass(frozen=True)
class VerificationResult:
    station: str
    model_version: str
    model_sha256: str
    t: float
    outcomes: list[ChallengeOutcome]

    @property
    def passed(self) -> bool:
        return all(o.ok for o in self.outcomes)

    @property
    def failures(self) -> list[ChallengeOutcome]:
        return [o for o in self.outcomes if not o.ok]

    def failure_text(self) -> str:
        texts = []
        for o in self.failures:
            if o.expect == "reject":
                texts.append(f"known-bad part '{o.name}' was not rejected")
            else:
                texts.append(f"known-good part '{o.name}' was rejected")
        return "; ".join(texts)

    def lines(self) -> list[str]:
        bad = sum(o.expect == "reject" for o in self.outcomes)
        out = [
            f"verification of {self.station} with model {self.model_version}: "
            f"{len(self.outcomes)} challenge parts ({bad} known-bad, {len(self.outcomes) - bad} known-good)"
        ]
        out += ["  " + o.describe() for o in self.outcomes]
        out.append("verification PASSED" if self.passed else f"verification FAILED: {self.failure_text()}")
        return out

    def record(self) -> dict:
        """The audit entry's ``after``: enough to see what was shown to the camera and what it said."""
        return {
            "passed": self.passed,
            "model_version": self.model_version,
            "model_sha256": self.model_sha256,
            "t": self.t,
            "failures": [o.name for o in self.failures],
            "parts": [
                {
                    "name": o.name, "camera": o.camera, "image": o.image, "expect": o.expect, "got": o.got, "ok": o.ok,
                    "detections": to_builtins(o.detections),
                }
                for o in self.outcomes
            ],
        }


def run_verification(config: Config, config_dir: Path | None = None, detector: DefectDetector | None = None) -> VerificationResult:
    """Run every configured challenge part through ``detector`` (default: one built from the station's config)."""
    parts = config.calibration.challenge_parts
    if not parts:
        raise CalibrationError("no challenge parts configured (calibration.challenge_parts)")
    expectations = {p.expect for p in parts}
    if expectations != {"pass", "reject"}:
        missing = "known-bad ('reject')" if "reject" not in expectations else "known-good ('pass')"
        raise CalibrationError(f"calibration.challenge_parts: a verification needs at least one {missing} part")
    names = [p.name for p in parts]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise CalibrationError(f"calibration.challenge_parts: duplicate name {duplicates[0]!r}")
    folder = calibration_paths(config, config_dir).folder
    if detector is None:
        require_trusted(config)  # a verification is of the packages the station is configured with, signed
        detector = DefectDetector(config.detector)
    optics = {}
    outcomes = []
    for part in parts:
        camera = camera_name(config, part.camera)
        if camera not in optics:
            optics[camera] = camera_optics(config, folder, camera)
        image_path = resolve_path(part.image, config_dir)
        frame = optics[camera].prepare(read_image(image_path))
        inspection = detector.inspect(frame, optics[camera].mm_per_px)
        got = "REJECT" if inspection.rejected else "PASS"
        outcome = ChallengeOutcome(part.name, camera, str(image_path), part.expect, got, inspection.detections)
        log.info("challenge part %s: expected %s, got %s", part.name, part.expect, got)
        outcomes.append(outcome)
    # every model the station runs is verified together: the gate compares this with the detector's model_version
    sha256 = "+".join(slot.package.metadata.onnx_sha256 for slot in detector.slots)
    return VerificationResult(config.station.name, detector.model_version, sha256, time.time(), outcomes)


def record_verification(trail: AuditTrail, result: VerificationResult, user: str) -> AuditEntry:
    """Append the verification to the audit trail; ``before`` is the previous verification's verdict."""
    previous = trail.latest(VERIFICATION_ACTION, result.station)
    before = (
        {k: previous.after.get(k) for k in ("passed", "model_version", "t")} if previous is not None else None
    )
    return trail.record(user, VERIFICATION_ACTION, result.station, before=before, after=result.record(), t=result.t)


@dataclass(frozen=True)
class GateState:
    allows_pass: bool
    reason: str


def verification_state(trail: AuditTrail, station: str, model_version: str, now: float, valid_h: float) -> GateState:
    """Whether ``station`` may report PASS now: its latest verification passed, with this model, within ``valid_h``."""
    broken = trail.verify()
    if broken is not None:
        return GateState(False, f"the audit trail is broken at {broken}; no verification in it can be trusted")
    latest = trail.latest(VERIFICATION_ACTION, station)
    if latest is None:
        return GateState(False, "no verification has been run at this station")
    age_h = (now - latest.t) / 3600
    if not latest.after.get("passed"):
        return GateState(False, f"the last verification ({age_h:.1f} h ago) failed: {', '.join(latest.after.get('failures', []))}")
    if latest.after.get("model_version") != model_version:
        return GateState(False, f"the last verification was of model {latest.after.get('model_version')}, the station runs {model_version}")
    if age_h > valid_h:
        return GateState(False, f"the last passing verification is {age_h:.1f} h old (valid for {valid_h:g} h)")
    return GateState(True, f"verified {age_h:.1f} h ago by {latest.user} (entry {latest.id})")


class VerificationGate:
    """For the detector service: may a part be reported PASS? Re-reads the audit trail every ``recheck_s``."""

    def __init__(self, config: Config, config_dir: Path | None, model_version: str, recheck_s: float = 10.0) -> None:
        self.required = config.calibration.require_verification
        self.station = config.station.name
        self.model_version = model_version
        self.valid_h = config.calibration.verification_valid_h
        self.config, self.config_dir = config, config_dir
        self.recheck_s = recheck_s
        self._state = GateState(not self.required, "verification not required")
        self._checked_at: float | None = None

    def state(self, now: float) -> GateState:
        """The gate at ``now``; the audit trail is read at most once per ``recheck_s``."""
        if self.required and (self._checked_at is None or now - self._checked_at >= self.recheck_s):
            self._state = self._read(now)
            self._checked_at = now
        return self._state

    def _read(self, now: float) -> GateState:
        if not calibration_paths(self.config, self.config_dir).audit_database.exists():
            return GateState(False, "no verification has been run at this station (it has no audit trail yet)")
        try:
            with open_audit_trail(self.config, self.config_dir, readonly=True) as trail:
                state = verification_state(trail, self.station, self.model_version, now, self.valid_h)
        except InspectorError as err:  # an unreadable trail closes the gate, saying why
            state = GateState(False, str(err))
        log.log(logging.INFO if state.allows_pass else logging.WARNING, "verification gate: %s", state.reason)
        return state
