"""The OPC UA server: the vision system's state, its last result with result-ready events, model selection.

It follows OPC 40100 (Machine Vision) where it fits, in its own namespace
(``urn:inspector:machine-vision``; the companion specification's nodeset is
not loaded):

    Objects/VisionSystem                      (emits ResultReadyEventType events)
        VisionStateMachine/CurrentState       Preoperational | Initialized | Ready | ContinuousExecution | Error
        VisionStateMachine/CurrentStateNumber, ErrorText
        ResultManagement/LastResult/...       ResultId, PartId, Camera, Result, ModelVersion, LatencyMs,
                                              TriggerTime, Detections (JSON)
        ResultManagement/Counters/...         Inspected, Rejected, FailSafe (since the server started)
        RecipeManagement/AvailableModels, ActiveModel (the model version of the last verdict)
        RecipeManagement/SelectedModel, SelectionState (pending | active | refused | rolled back), SelectionText
        RecipeManagement/SelectModel(Name) -> Status   (through the model registry: see inspector.opcua.models)

It is fed by the line's event stream (the actuator's PUB socket, as an
observer, like the HMI): a slow or absent OPC UA client, or this server
itself, costs the line nothing. Security: Basic256Sha256 SignAndEncrypt, and
only client certificates in ``opcua.folder/trusted``; anonymous, unencrypted
access only with ``opcua.allow_anonymous``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import signal
import time
from pathlib import Path

from asyncua import Server, ua
from asyncua.crypto.truststore import TrustStore
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions

from inspector.alarms.board_store import read_board
from inspector.config.schema import Config
from inspector.errors import OpcUaError, StoreError
from inspector.messages import Alarm, AlarmBoardState, Decision, to_builtins
from inspector.observer_feed import EventFeed
from inspector.opcua.certs import SERVER_URI, server_paths, trusted_dir
from inspector.opcua.models import REFUSED, SelectionStatus, available_models, select_model
from inspector.opcua.users import CertificateSubjects, caller
from inspector.opcua.vision_state import STATE_NUMBERS, VisionState
from inspector.records.parts import last_decided

log = logging.getLogger(__name__)

NAMESPACE = "urn:inspector:machine-vision"
REJECTS = ("REJECT", "FAILSAFE_REJECT")
RESULT_EVENT_FIELDS = (
    ("ResultId", ua.VariantType.String), ("PartId", ua.VariantType.Int64), ("Camera", ua.VariantType.String),
    ("Result", ua.VariantType.String), ("ModelVersion", ua.VariantType.String), ("LatencyMs", ua.VariantType.Double),
)


class VisionServer:
    """The server's address space and how events change it (no sockets: :meth:`apply` takes the line's messages)."""

    def __init__(self, config: Config, idle_s: float = 5.0) -> None:
        self.config = config
        self.state = VisionState(idle_s=idle_s)
        self.server = Server()
        self.nodes: dict[str, object] = {}
        self.counts = {"Inspected": 0, "Rejected": 0, "FailSafe": 0}
        self.events_sent = 0
        self.failed_messages = 0
        self._last_state = ""
        self._pending_last: tuple | None = None
        self.selection = SelectionStatus()
        self._next_production_check = 0.0

    async def setup(self) -> None:
        cfg = self.config.opcua
        folder = Path(cfg.folder)
        paths = server_paths(folder)
        if not paths.cert.exists() or not paths.key.exists():
            raise OpcUaError(f"the OPC UA server's certificate is missing in {folder}: make it with 'inspector opcua certs --config FILE'")
        await self.server.init()
        self.server.set_endpoint(cfg.endpoint)
        self.server.set_server_name(f"Inspector {self.config.station.name}")
        await self.server.set_application_uri(SERVER_URI.format(station=self.config.station.name))
        await self.server.load_certificate(str(paths.cert))
        await self.server.load_private_key(str(paths.key))
        policies = [ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt]
        tokens: list[type] = [ua.X509IdentityToken]
        if cfg.allow_anonymous:
            policies.insert(0, ua.SecurityPolicyType.NoSecurity)
            tokens.insert(0, ua.AnonymousIdentityToken)
        self.server.set_security_policy(policies)
        self.server.set_identity_tokens(tokens)
        self.server.iserver.user_manager = CertificateSubjects()  # who selects a model, for the audit trail
        store = TrustStore([trusted_dir(folder)], [])
        await store.load()
        self.server.set_certificate_validator(CertificateValidator(
            CertificateValidatorOptions.TRUSTED_VALIDATION | CertificateValidatorOptions.PEER_CLIENT, store))
        await self._build()

    async def _build(self) -> None:
        idx = await self.server.register_namespace(NAMESPACE)
        self.idx = idx
        objects = self.server.nodes.objects
        system = await objects.add_object(idx, "VisionSystem")
        await system.set_event_notifier([ua.EventNotifier.SubscribeToEvents])
        self.nodes["VisionSystem"] = system
        sm = await system.add_object(idx, "VisionStateMachine")
        self.nodes["CurrentState"] = await sm.add_variable(idx, "CurrentState", "Preoperational")
        self.nodes["CurrentStateNumber"] = await sm.add_variable(idx, "CurrentStateNumber", 0, ua.VariantType.Int32)
        self.nodes["ErrorText"] = await sm.add_variable(idx, "ErrorText", "")
        results = await system.add_object(idx, "ResultManagement")
        last = await results.add_object(idx, "LastResult")
        for name, value, kind in (("ResultId", "", ua.VariantType.String), ("PartId", 0, ua.VariantType.Int64),
                                  ("Camera", "", ua.VariantType.String), ("Result", "", ua.VariantType.String),
                                  ("ModelVersion", "", ua.VariantType.String), ("LatencyMs", 0.0, ua.VariantType.Double),
                                  ("TriggerTime", dt.datetime(1970, 1, 1, tzinfo=dt.UTC), ua.VariantType.DateTime),
                                  ("Detections", "[]", ua.VariantType.String)):
            self.nodes[name] = await last.add_variable(idx, name, value, kind)
        counters = await results.add_object(idx, "Counters")
        for name in self.counts:
            self.nodes[name] = await counters.add_variable(idx, name, 0, ua.VariantType.Int64)
        recipes = await system.add_object(idx, "RecipeManagement")
        models = available_models(self.config)
        self.nodes["AvailableModels"] = await recipes.add_variable(idx, "AvailableModels", sorted(models), ua.VariantType.String)
        self.nodes["ActiveModel"] = await recipes.add_variable(idx, "ActiveModel", "")
        for name in ("SelectedModel", "SelectionState", "SelectionText"):
            self.nodes[name] = await recipes.add_variable(idx, name, "")
        await recipes.add_method(idx, "SelectModel", self._select_model, [ua.VariantType.String], [ua.VariantType.String])
        event_type = await self.server.create_custom_event_type(idx, "ResultReadyEventType", ua.ObjectIds.BaseEventType,
                                                                [(n, k) for n, k in RESULT_EVENT_FIELDS])
        self.result_ready = await self.server.get_event_generator(event_type, system)

    async def _select_model(self, parent: ua.NodeId, name: ua.Variant) -> ua.CallMethodResult:
        """SelectModel(Name) -> Status text. BadInvalidArgument for a name the station does not offer;
        BadRequestNotAllowed for a model the station may not select (SelectionText and the Status say why)."""
        user = caller()
        try:
            selection = await asyncio.to_thread(select_model, self.config, str(name.Value), user)
        except OpcUaError as err:
            log.warning("OPC UA model selection by %s refused: %s", user, err)
            return _method_result(ua.StatusCodes.BadInvalidArgument, str(err))
        await self.show_selection(selection)
        if selection.state == REFUSED:
            return _method_result(ua.StatusCodes.BadRequestNotAllowed, f"{selection.name} refused: {selection.text}")
        return _method_result(ua.StatusCodes.Good, f"{selection.name}: {selection.state}; {selection.text}")

    async def show_selection(self, selection: SelectionStatus) -> None:
        self.selection = selection
        for node, value in (("SelectedModel", selection.name), ("SelectionState", selection.state), ("SelectionText", selection.text)):
            await _write(self.nodes[node], value)

    async def check_production(self, now: float) -> None:
        """Once a second while a selection is pending or active: did the registry roll it back?"""
        if now < self._next_production_check or self.selection.state not in ("pending", "active"):
            return
        self._next_production_check = now + 1.0
        try:
            changed = await asyncio.to_thread(self.selection.on_production, self.config)
        except Exception as err:  # noqa: BLE001 - the registry unreadable: say so, keep serving
            log.warning("the model registry cannot be read for the OPC UA selection's state: %s", err)
            return
        if changed:
            await self.show_selection(self.selection)

    def load_last_result(self) -> None:
        """The last part recorded before this server started (the database read-only; none if it is not there)."""
        try:
            row = last_decided(self.config.recorder.database)
        except StoreError as err:
            log.warning("%s", err)
            return
        if row:
            self._pending_last = row

    def load_alarm_board(self) -> None:
        """The alarm board as its keeper last wrote it, until the line's next board message (every second)."""
        try:
            self.state.on_board(read_board(self.config.station.state_dir), time.time())
        except StoreError as err:
            log.warning("%s", err)

    async def write_last(self, camera: str, part_id: int, result: str, model: str, latency: float | None, t: float, detections: str) -> None:
        values = {"ResultId": f"{camera}:{part_id}", "PartId": part_id, "Camera": camera, "Result": result, "ModelVersion": model,
                  "LatencyMs": float(latency if latency is not None else float("nan")),
                  "TriggerTime": dt.datetime.fromtimestamp(t, dt.UTC), "Detections": detections}
        for name, value in values.items():
            await _write(self.nodes[name], value)
        if model:
            await _write(self.nodes["ActiveModel"], model)
            if self.selection.on_verdict(model):
                await self.show_selection(self.selection)

    async def apply(self, message: Decision | Alarm | AlarmBoardState, now: float) -> None:
        if isinstance(message, AlarmBoardState):
            self.state.on_board(message.entries, time.time())
            return
        if isinstance(message, Alarm):
            return  # a change; the board that follows it says what stands
        d = message
        if not -2**63 <= d.part_id < 2**63:
            raise OpcUaError(f"part id {d.part_id} does not fit OPC UA's Int64")
        self.state.on_decision(d, now)
        self.counts["Inspected"] += 1
        self.counts["Rejected"] += d.result in REJECTS
        self.counts["FailSafe"] += d.result.startswith("FAILSAFE")
        for name, value in self.counts.items():
            await _write(self.nodes[name], value)
        verdict = d.verdict
        model = verdict.model_version if verdict else ""
        detections = json.dumps(to_builtins(verdict.detections)) if verdict else "[]"
        await self.write_last(d.camera, d.part_id, d.result, model, d.latency_ms, d.t_trigger, detections)
        ev = self.result_ready.event
        ev.ResultId, ev.PartId, ev.Camera, ev.Result = f"{d.camera}:{d.part_id}", d.part_id, d.camera, d.result
        ev.ModelVersion, ev.LatencyMs = model, float(d.latency_ms if d.latency_ms is not None else float("nan"))
        await self.result_ready.trigger(message=f"part {d.part_id}: {d.result}")
        self.events_sent += 1

    async def refresh_state(self, now: float) -> None:
        current = self.state.current(now)
        if current != self._last_state:
            self._last_state = current
            log.info("vision system state: %s", current)
        await _write(self.nodes["CurrentState"], current)
        await _write(self.nodes["CurrentStateNumber"], STATE_NUMBERS[current])
        await _write(self.nodes["ErrorText"], self.state.error_text())
        await self.check_production(now)


def _method_result(code: int, text: str) -> ua.CallMethodResult:
    """A method's outcome with its text (a client sees the status code; the text also in SelectionText)."""
    return ua.CallMethodResult(StatusCode=ua.StatusCode(code), OutputArguments=[ua.Variant(text, ua.VariantType.String)])


async def _write(node, value) -> None:
    """Write keeping the variable's declared type (a Python int would otherwise become Int64 or Int32 at random)."""
    current = await node.read_data_type_as_variant_type()
    await node.write_value(ua.DataValue(ua.Variant(value, current)))


async def serve(config: Config, stop: asyncio.Event, feed_factory=None, poll_s: float = 0.05, idle_s: float = 5.0,
                ready: asyncio.Event | None = None) -> VisionServer:
    """Run the server until ``stop`` is set; ``feed_factory()`` gives the line's event feed (default: the station's)."""
    vision = VisionServer(config, idle_s=idle_s)
    await vision.setup()
    vision.load_last_result()
    vision.load_alarm_board()
    try:
        async with vision.server:
            if vision._pending_last:
                camera, part_id, result, model, latency, t, detections = vision._pending_last
                await vision.write_last(camera, part_id, result, model or "", latency, t, detections or "[]")
            await vision.refresh_state(time.monotonic())
            if feed_factory is None:  # the observers' subscription, as the HMI holds it
                feed_factory = lambda: EventFeed(config)
            feed = feed_factory()
            vision.state.feed_open = True
            log.info("OPC UA server on %s (anonymous %s)", config.opcua.endpoint, "allowed" if config.opcua.allow_anonymous else "refused")
            if ready is not None:
                ready.set()
            try:
                while not stop.is_set():
                    for message in feed.drain(500):
                        try:
                            await vision.apply(message, time.monotonic())
                        except Exception:  # one message the address space cannot take must not end the server
                            vision.failed_messages += 1
                            log.exception("OPC UA server: a %s could not be published", type(message).__name__)
                    await vision.refresh_state(time.monotonic())
                    try:
                        await asyncio.wait_for(stop.wait(), poll_s)
                    except TimeoutError:
                        pass
            finally:
                feed.close()
    except OSError as err:
        raise OpcUaError(f"the OPC UA server cannot listen on {config.opcua.endpoint}: {err}") from err
    return vision


def run_server(config: Config) -> None:
    """``inspector opcua serve``: until SIGTERM or Ctrl-C."""
    logging.getLogger("asyncua").setLevel(logging.WARNING)  # its INFO line per client request would fill the log
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(config, stop)

    asyncio.run(main())
