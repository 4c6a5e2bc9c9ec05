"""Detector service: frames in, verdicts out.

Verdicts go to the actuator (lossless). Rejects, and a sample of passes, also
go with their image to the recorder. A frame that cannot be inspected is
counted and logged; when its part is known, the actuator is told at once
(a FAILSAFE verdict) instead of waiting for the part's deadline.

Each camera's calibration applies to its frames: optional undistortion, and
the pixel scale that gives defect areas in mm². When the station requires a
shift-start verification, no part is reported PASS (it is rejected, with the
reason) until a verification with the current model has passed.

Images go to the recorder ``image_send_delay_ms`` after their verdict (see
:mod:`inspector.services.held_sends`), so they do not compete with the
actuator's decision.
"""

from __future__ import annotations

import logging
import time
import zlib

import numpy as np
import zmq

from calibration.challenge import VerificationGate
from calibration.station import calibration_paths, camera_optics
from inspector.bounded import clip
from inspector.channels import CHANNELS, max_message_bytes
from inspector.config.schema import Config
from inspector.engine.detector import DefectDetector
from inspector.errors import InspectorError
from inspector.frame_ring import StationRings
from inspector.image_gate import ImageGate
from inspector.messages import FrameHeader, Verdict, encode, encode_header
from inspector.model_trust import configured_models, station_models
from inspector.modelops.drift import DriftMonitor
from inspector.modelops.drift_series import DriftSeriesWriter, drift_series_path
from inspector.modelops.hot_swap import ProductionFollower, ReadyModels
from inspector.modelops.shadow import ShadowRunner
from inspector.services.base import Service
from inspector.services.held_sends import HeldSends
from inspector.transport import GapCounter, MalformedFrame, parse_frame, send_message

log = logging.getLogger(__name__)

INSPECTION_KIND = b"inspection"


def keep_pass_image(part_id: int, share: float) -> bool:
    """Deterministic sampling of passed parts' images (same answer on every replay)."""
    return share > 0 and (zlib.crc32(part_id.to_bytes(8, "little", signed=True)) % 10_000) < share * 10_000


class DetectorService(Service):
    kind = "detector"

    def __init__(self, config: Config, instance: str = "") -> None:
        super().__init__(config, instance)
        self.gaps = GapCounter()
        self.held_images = HeldSends(config.detector.image_send_delay_ms / 1000)

    def setup(self) -> None:
        self.follower = ProductionFollower(self.config, self.alarm)  # the registry's production models (OPC UA selections too)
        start = self.follower.start_config()
        try:
            models = station_models(start, promoted=self.follower.start_pins())
        except InspectorError as err:
            self.alarm.raise_("model_refused", f"no model the station trusts can be loaded: {err}")
            self.follower.refused_at_start(start, str(err))  # a restart then runs the last-known-good package
            raise
        if models.fallback:
            self.alarm.raise_(
                "model_refused",
                f"configured model refused, running the last-known-good model(s) instead: {models.refused}",
            )
            self.follower.refused_at_start(start, models.refused)
        self.engine = DefectDetector(models.detector)
        self.engine.warm_up((self.config.cameras[0].height, self.config.cameras[0].width))
        self.follower.started(configured_models(models.detector))
        self._reference = np.zeros((self.config.cameras[0].height, self.config.cameras[0].width), np.uint8)
        self._parts_on_model = -1  # counts parts after a swap; -1: no swap since start
        self._departure = None  # after a swap to a model that ran in shadow: its reject rate against the shadow's
        self.shadow = ShadowRunner(self.config, self.alarm)
        self.drift = DriftMonitor(self.config.drift, self.alarm, self._gate_scores())
        self.drift_series = DriftSeriesWriter(drift_series_path(self.config), self.config.drift.series_every_parts,
                                              self.config.drift.series_points)
        folder = calibration_paths(self.config).folder
        self.optics = {cam.name: camera_optics(self.config, folder, cam.name) for cam in self.config.cameras}
        self.gate = VerificationGate(self.config, None, self.engine.model_version)
        self.image_gate = ImageGate(self.config.detector.image_gate)
        self.max_frame_bytes = max_message_bytes(self.config, CHANNELS["frames"])
        self._gate_state: dict[str, str] = {}  # per camera: the kind of gate problem now ('' = none)
        self.frames = self.sockets.open("frames")
        self.rings = StationRings(self.config)
        self.verdicts = self.sockets.open("verdicts")
        self.inspections = self.sockets.open("inspections")
        self.poller = zmq.Poller()
        self.poller.register(self.frames, zmq.POLLIN)
        log.info("detector ready: model %s on %s", self.engine.model_version, ", ".join(self.engine.providers))

    def step(self, timeout_s: float) -> None:
        ready = self.follower.poll(time.monotonic(), self._reference)
        if ready is not None:
            self._swap(ready)
        self.shadow.poll(time.monotonic())
        if self.poller.poll(self.held_images.wait_s(timeout_s, time.monotonic()) * 1000):
            self._on_frame()
        self.held_images.release_due(time.monotonic())

    def _on_frame(self) -> None:
        parts = self.frames.recv_multipart(copy=False)
        try:
            header, pixels = parse_frame(parts, self.rings.read)
            t_received = time.time()  # the pixels in hand: out of the message, or copied out of the ring
        except MalformedFrame as err:
            self.counters["malformed_frames"] += 1
            log.error("malformed frame: %s", clip(str(err)))
            if err.header is not None:
                self._send_failsafe(err.header, f"malformed frame: {err}")
            return
        except Exception as err:  # noqa: BLE001 - the message boundary: a frame whose pixels cannot be read at all fails
            self.message_failed("a frame", err)  # safe at its part's deadline; the detector takes the next one
            return
        if header.nbytes > self.max_frame_bytes:
            self.counters["malformed_frames"] += 1
            self._send_failsafe(
                header, f"frame of {header.nbytes} bytes refused: transport.max_frame_mb allows {self.max_frame_bytes}"
            )
            return
        try:
            self.gaps.observe(f"camera:{header.camera}", header.seq)
            self.counters["frames_missing"] = self.gaps.missing
            self.inspect(header, pixels, t_received)
        except Exception as err:  # noqa: BLE001 - the message boundary: the part is failed safe, the next frame inspected
            self.message_failed(f"the frame of part {header.part_id}", err)
            self._send_failsafe(header, f"frame not inspected: {type(err).__name__}: {clip(str(err), 200)}")

    def inspect(self, header: FrameHeader, pixels: np.ndarray, t_received: float) -> None:
        optics = self.optics.get(header.camera)
        if optics is None:
            self.counters["unknown_camera"] += 1
            self._send_failsafe(header, f"frame from camera {header.camera!r}, which is not in the station config")
            return
        problem = self.image_gate.problem(header.camera, pixels)
        if problem:
            self.counters["image_gate_failsafe"] += 1
            self._on_gate(header.camera, problem)
            self._send_failsafe(header, problem)
            return
        self._on_gate(header.camera, "")
        frame = optics.prepare(pixels)
        self._reference = frame  # the start-up self-test of a newly promoted model runs on the latest frame
        try:
            result = self.engine.inspect(frame, mm_per_px=optics.mm_per_px)
        except Exception as err:  # whatever one frame does, the part is failed safe and the next frame is inspected
            self.counters["inspection_errors"] += 1
            log.exception("part %d: inspection failed", header.part_id)
            self._send_failsafe(header, f"inspection failed: {type(err).__name__}: {err}")
            return
        timings = {"transport": (t_received - header.t_capture) * 1000, **result.timings_ms}
        rejected, reason = result.rejected, result.reason()  # which model rejected, for which classes
        if not rejected:
            gate = self.gate.state(time.time())
            if not gate.allows_pass:
                rejected, reason = True, f"no PASS before a shift-start verification: {gate.reason}"
                self.counters["rejected_by_verification_gate"] += 1
        verdict = Verdict(
            station=header.station,
            camera=header.camera,
            part_id=header.part_id,
            seq=header.seq,
            result="REJECT" if rejected else "PASS",
            t_trigger=header.t_trigger,
            t_verdict=time.time(),
            model_version=self.engine.model_version,
            detections=result.detections,
            timings_ms={k: round(v, 3) for k, v in timings.items()},
            source=header.source,
            reason=reason,
            first_on_model=self._first_on_model(),
        )
        self._deliver(verdict)
        self.follower.part_done()
        self._watch(header, frame, result)
        self.counters["rejected" if rejected else "passed"] += 1
        if rejected or keep_pass_image(header.part_id, self.config.recorder.sample_passes):
            self.held_images.hold(lambda: self._send_image(verdict, header, pixels), time.monotonic())

    def _watch(self, header: FrameHeader, frame: np.ndarray, result) -> None:
        """After the verdict left: the shadow's frame, the new model's reject rate, drift. None of it can stop the line."""
        try:
            waiting = self.shadow.active and bool(self.frames.poll(0))  # asked only while a shadow runs
            self.shadow.offer(header, frame, result.judgements, production_waiting=waiting)
            if self._departure is not None:
                departed = self._departure.add(result.rejected)
                if departed:
                    self.follower.roll_back_departed(self._departure, departed)
            measures = self.drift.observe(header.camera, frame, result.defect_score, result.rejected, header.part_id,
                                          sum(result.timings_ms.values()))
            self.drift_series.add(header.camera, header.part_id, measures)
        except Exception:  # noqa: BLE001 - the part is decided; watching it must not take the detector down
            self.counters["watch_errors"] += 1
            log.exception("part %d: shadow, rollback watch or drift check failed", header.part_id)

    def _first_on_model(self) -> int:
        """1..N for the first parts decided by a model swapped in while running (``models.marked_parts``), else 0."""
        if self._parts_on_model < 0:
            return 0
        self._parts_on_model += 1
        return self._parts_on_model if self._parts_on_model <= self.config.models.marked_parts else 0

    def _gate_scores(self) -> list[float]:
        """The main model's scores on the golden set when it passed a gate: drift's score reference."""
        from inspector.modelops.gate import production_gate_scores
        from inspector.modelops.registry import ModelRegistry

        return production_gate_scores(ModelRegistry(self.config), self.engine.package.onnx_path)

    def _swap(self, ready: ReadyModels) -> None:
        """Between two parts: the checked, warmed models take the next part; the old ones are closed."""
        old, self.engine = self.engine, ready.engine
        self.gate = VerificationGate(self.config, None, self.engine.model_version)
        self._parts_on_model = 0
        self.counters["model_swaps"] += 1
        self._departure = self.follower.departure_watch(ready.paths)
        self.drift.new_model(self._gate_scores())
        old.close()
        self.alarm.event("model_swapped", f"now deciding with {self.engine.model_version} (was {old.model_version})")

    def _on_gate(self, camera: str, problem: str) -> None:
        """An alarm when a camera's frames start failing the image gate, and its clearing when they pass again."""
        kind = problem.split(":", 1)[0]
        if kind == self._gate_state.get(camera, ""):
            return
        self._gate_state[camera] = kind
        if problem:
            self.alarm.raise_("image_gate", f"camera {camera}: {problem}; its parts are failed safe", source=f"camera:{camera}")
        else:
            self.alarm.clear("image_gate", f"camera {camera}: frames pass the image gate again", source=f"camera:{camera}")

    def _send_failsafe(self, header: FrameHeader, reason: str) -> None:
        verdict = Verdict(
            station=header.station,
            camera=header.camera,
            part_id=header.part_id,
            seq=header.seq,
            result="FAILSAFE",
            t_trigger=header.t_trigger,
            t_verdict=time.time(),
            model_version=self.engine.model_version,
            reason=reason,
            source=header.source,
        )
        self._deliver(verdict)

    def _deliver(self, verdict: Verdict) -> None:
        if not send_message(self.verdicts, verdict):
            self.counters["verdicts_undelivered"] += 1
            log.error("part %d: actuator queue full, verdict not delivered", verdict.part_id)

    def _send_image(self, verdict: Verdict, header: FrameHeader, pixels: np.ndarray) -> None:
        kind, verdict_json = encode(verdict)
        try:
            self.inspections.send_multipart(
                [INSPECTION_KIND, verdict_json, encode_header(header.without_ring()), pixels], flags=zmq.NOBLOCK, copy=False
            )
        except zmq.Again:
            self.counters["images_undelivered"] += 1
            log.warning("part %d: recorder queue full, image not stored", verdict.part_id)

    def teardown(self) -> None:
        if hasattr(self, "shadow"):
            self.shadow.close()  # its last alarms go out before the alarm socket closes
        if hasattr(self, "inspections"):
            self.held_images.release_all()  # images of parts already decided are not lost on a stop
        if hasattr(self, "follower"):
            self.follower.close()
        if hasattr(self, "drift_series"):
            self.drift_series.close()
        if hasattr(self, "engine"):
            self.engine.close()
        if hasattr(self, "rings"):
            self.rings.close()
