"""The OPC UA server against asyncua's own client: real sockets, real certificates, the line's real event stream."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from pathlib import Path

import msgspec
import pytest
import zmq
from asyncua import Client, ua
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

from inspector.alarms.board import AlarmBoard
from inspector.alarms.board_store import BoardStore
from inspector.channels import LineSockets
from inspector.config.loader import config_from_dict
from inspector.errors import ConfigError
from inspector.messages import Alarm, AlarmCommand, Decision, Detection, Verdict
from inspector.netutil import free_tcp_port
from inspector.opcua.certs import CLIENT_URI, client_paths, init_certs, server_paths
from inspector.opcua.server import NAMESPACE, serve
from inspector.records.store import Store
from inspector.transport import send_message

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def station(line_config, tmp_path: Path):
    config = line_config()
    opcua = dataclasses.replace(config.opcua, enabled=True, endpoint=f"opc.tcp://127.0.0.1:{free_tcp_port()}/inspector/",
                                folder=str(tmp_path / "opcua"), recipes={"anomaly": str(tmp_path / "anomaly" / "model.onnx")})
    config = dataclasses.replace(config, opcua=opcua)
    init_certs(config, "scada")
    return config


def decision(part_id: int, result: str, model: str = "disc v1.4") -> Decision:
    t = time.time()
    detections = [Detection("scratch", 0.91, (10.0, 20.0, 50.0, 60.0), 1600.0, True)] if result == "REJECT" else []
    verdict = Verdict("station-1", "top", part_id, part_id, result, t - 0.05, t - 0.01, model, detections)
    return Decision("station-1", "top", part_id, part_id, result, "verdict", t - 0.05, t, True, t + 0.02, verdict=verdict)


async def secure_client(config, name: str = "scada") -> Client:
    folder = Path(config.opcua.folder)
    paths = client_paths(folder, name)
    client = Client(config.opcua.endpoint, timeout=10)
    client.application_uri = CLIENT_URI.format(name=name)
    await client.set_security(SecurityPolicyBasic256Sha256, str(paths.cert), str(paths.key),
                              server_certificate=str(server_paths(folder).cert))
    await client.load_client_certificate(str(paths.cert))
    await client.load_private_key(str(paths.key))
    return client


async def server_up(config, timeout_s: float = 60.0) -> None:
    """Until the supervised server accepts a session (it starts beside the line, in its own time)."""
    deadline = time.monotonic() + timeout_s
    while True:
        client = await secure_client(config)
        try:
            async with client:
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def wait_for(condition, what: str, timeout_s: float = 20.0, publish=None):
    deadline = time.monotonic() + timeout_s
    while True:
        if publish:
            publish()
        value = await condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


class ResultEvents:
    def __init__(self) -> None:
        self.events: list = []

    def event_notification(self, event) -> None:
        self.events.append(event)


def test_state_last_result_events_and_model_selection(station) -> None:
    config = station
    ctx = zmq.Context()
    actuator = LineSockets(config, "actuator", ctx)
    events = actuator.open("events")  # the actuator's PUB socket, as on the line

    async def scenario() -> None:
        stop, ready = asyncio.Event(), asyncio.Event()
        server = asyncio.create_task(serve(config, stop, idle_s=1.0, ready=ready))
        await asyncio.wait_for(ready.wait(), 30)
        client = await secure_client(config)
        async with client:
            ns = await client.get_namespace_index(NAMESPACE)
            system = await client.nodes.objects.get_child(f"{ns}:VisionSystem")
            state = await system.get_child([f"{ns}:VisionStateMachine", f"{ns}:CurrentState"])
            last = await system.get_child([f"{ns}:ResultManagement", f"{ns}:LastResult"])
            counters = await system.get_child([f"{ns}:ResultManagement", f"{ns}:Counters"])
            assert await state.read_value() == "Initialized"

            # a critical alarm standing on the station's board puts the system in Error (the board is sent until the
            # subscription is up: PUB drops before that); a shelved one does not
            board = AlarmBoard("station-1", BoardStore(Path(config.station.state_dir) / "keeper"), unacked_keep_s=3600,
                               max_shelve_s=3600, owners=None, now=time.time())
            alarm = Alarm("station-1", "detector:0", "model_refused", "critical", "no model the station trusts", time.time())
            board.apply(alarm, time.time())
            await wait_for(lambda: _equals(state, "Error"), "Error state", publish=lambda: send_message(events, board.state(time.time())))
            text = await (await system.get_child([f"{ns}:VisionStateMachine", f"{ns}:ErrorText"])).read_value()
            assert text == "detector:0/model_refused: no model the station trusts"
            board.command(AlarmCommand("station-1", "shelve", "detector:0", "model_refused", "quinn", "quality", time.time(),
                                       "model being replaced", 600), time.time())
            await wait_for(lambda: _equals(state, "Initialized"), "shelved: no longer Error",
                           publish=lambda: send_message(events, board.state(time.time())))
            board.command(AlarmCommand("station-1", "unshelve", "detector:0", "model_refused", "quinn", "quality", time.time()),
                          time.time())
            await wait_for(lambda: _equals(state, "Error"), "Error again", publish=lambda: send_message(events, board.state(time.time())))
            board.apply(msgspec.structs.replace(alarm, active=False), time.time())
            send_message(events, msgspec.structs.replace(alarm, active=False))  # the change itself: the board that follows decides
            await wait_for(lambda: _equals(state, "Initialized"), "the alarm cleared",
                           publish=lambda: send_message(events, board.state(time.time())))
            board.store.close()

            handler = ResultEvents()
            subscription = await client.create_subscription(50, handler)
            event_type = await client.nodes.root.get_child(["0:Types", "0:EventTypes", "0:BaseEventType", f"{ns}:ResultReadyEventType"])
            await subscription.subscribe_events(system, event_type)
            await asyncio.sleep(0.5)

            for part_id, result in ((1, "PASS"), (2, "REJECT"), (3, "FAILSAFE_REJECT")):
                d = decision(part_id, result)
                if result.startswith("FAILSAFE"):
                    d = msgspec.structs.replace(d, source="deadline", verdict=None)
                assert send_message(events, d)
            await wait_for(lambda: _equals(await_child(last, ns, "PartId"), 3), "part 3 as the last result")
            assert await (await last.get_child(f"{ns}:Result")).read_value() == "FAILSAFE_REJECT"
            assert await (await last.get_child(f"{ns}:ResultId")).read_value() == "top:3"
            assert await state.read_value() == "ContinuousExecution"
            values = [await (await counters.get_child(f"{ns}:{n}")).read_value() for n in ("Inspected", "Rejected", "FailSafe")]
            assert values == [3, 2, 1]
            await wait_for(lambda: _true(len(handler.events) >= 3), "three result-ready events")
            assert [(e.PartId, e.Result) for e in handler.events] == [(1, "PASS"), (2, "REJECT"), (3, "FAILSAFE_REJECT")]
            assert handler.events[1].ModelVersion == "disc v1.4" and handler.events[1].ResultId == "top:2"

            send_message(events, decision(2**70, "PASS"))  # a part id out of range: refused as it is decoded, the server goes on
            send_message(events, decision(4, "REJECT"))
            await wait_for(lambda: _equals(await_child(last, ns, "PartId"), 4), "part 4")
            detections = json.loads(await (await last.get_child(f"{ns}:Detections")).read_value())
            assert detections[0]["cls"] == "scratch" and detections[0]["box"] == [10.0, 20.0, 50.0, 60.0]
            await wait_for(lambda: _equals(state, "Ready"), "Ready after a second without parts")

            recipes = await system.get_child(f"{ns}:RecipeManagement")
            assert sorted(await (await recipes.get_child(f"{ns}:AvailableModels")).read_value()) == ["anomaly", "default"]
            with pytest.raises(ua.UaStatusCodeError) as not_installed:  # its file is in no registry (nor on disk)
                await recipes.call_method(f"{ns}:SelectModel", "anomaly")
            assert not_installed.value.code == ua.StatusCodes.BadRequestNotAllowed
            assert await (await recipes.get_child(f"{ns}:SelectedModel")).read_value() == "anomaly"
            assert await (await recipes.get_child(f"{ns}:SelectionState")).read_value() == "refused"
            assert "anomaly/model.onnx cannot be read" in await (await recipes.get_child(f"{ns}:SelectionText")).read_value()
            with pytest.raises(ua.UaStatusCodeError) as refused:
                await recipes.call_method(f"{ns}:SelectModel", "no-such-model")
            assert refused.value.code == ua.StatusCodes.BadInvalidArgument
            await subscription.delete()
        stop.set()
        vision = await server
        assert vision.failed_messages == 0 and vision.events_sent == 4

    try:
        asyncio.run(scenario())
    finally:
        events.close(0)
        actuator.close()
        ctx.term()


def test_refused_without_a_trusted_certificate_when_anonymous_is_off(station, tmp_path: Path) -> None:
    config = station

    async def scenario() -> None:
        stop, ready = asyncio.Event(), asyncio.Event()
        server = asyncio.create_task(serve(config, stop, ready=ready, feed_factory=_NoEvents))
        await asyncio.wait_for(ready.wait(), 30)
        try:
            anonymous = Client(config.opcua.endpoint, timeout=5)
            with pytest.raises(Exception) as no_cert:
                async with anonymous:
                    await anonymous.nodes.objects.get_children()
            assert "No matching endpoints" in str(no_cert.value)  # the server offers no endpoint without security
            # what the server offers: Basic256Sha256 SignAndEncrypt only, and no anonymous identity
            endpoints = await Client(config.opcua.endpoint, timeout=5).connect_and_get_server_endpoints()
            assert {(e.SecurityMode, e.SecurityPolicyUri) for e in endpoints} == {
                (ua.MessageSecurityMode.SignAndEncrypt, SecurityPolicyBasic256Sha256.URI)}
            assert {t.TokenType for e in endpoints for t in e.UserIdentityTokens} == {ua.UserTokenType.Certificate}
            # a certificate the server was never told to trust: refused too
            stranger = dataclasses.replace(config, opcua=dataclasses.replace(config.opcua, folder=str(tmp_path / "elsewhere")))
            init_certs(stranger, "stranger")
            for name in ("stranger-cert.der", "stranger-key.pem"):
                (Path(config.opcua.folder) / "clients" / name).write_bytes((tmp_path / "elsewhere" / "clients" / name).read_bytes())
            untrusted = await secure_client(config, "stranger")
            with pytest.raises(Exception) as bad_cert:
                async with untrusted:
                    await untrusted.nodes.objects.get_children()
            assert isinstance(bad_cert.value, ua.uaerrors.BadCertificateUntrusted)
            # the trusted client gets in
            client = await secure_client(config)
            async with client:
                ns = await client.get_namespace_index(NAMESPACE)
                assert await client.nodes.objects.get_child(f"{ns}:VisionSystem")
        finally:
            stop.set()
            await server

    asyncio.run(scenario())


def test_opcua_config_is_validated(tmp_path: Path) -> None:
    base = {"cameras": [{"name": "top"}], "detector": {"model": "m.onnx"}}
    for opcua, field in (({"endpoint": "http://host:4840"}, "opcua.endpoint"), ({"recipes": {"x": "model.pt"}}, "opcua.recipes.x"),
                         ({"recipes": {"x": "disc@"}}, "opcua.recipes.x"), ({"recipes": {"x": "abc"}}, "opcua.recipes.x"),
                         ({"allow_anonymous": "yes"}, "opcua.allow_anonymous")):
        with pytest.raises(ConfigError) as err:
            config_from_dict({**base, "opcua": opcua}, tmp_path)
        assert err.value.field == field
    assert config_from_dict(base, tmp_path).opcua.enabled is False
    recipes = {"a": "disc@1.4", "b": "0123456789ab", "c": "models/c.onnx"}
    assert config_from_dict({**base, "opcua": {"recipes": recipes}}, tmp_path).opcua.recipes == {
        "a": "disc@1.4", "b": "0123456789ab", "c": str(tmp_path / "models" / "c.onnx")}


class _NoEvents:
    def drain(self, max_messages: int = 1000) -> list:
        return []

    def close(self) -> None:
        pass


async def _equals(node, expected) -> bool:
    if asyncio.iscoroutine(node):
        node = await node
    return await node.read_value() == expected


async def _true(value: bool) -> bool:
    return value


async def await_child(parent, ns: int, name: str):
    return await parent.get_child(f"{ns}:{name}")


def test_anonymous_clients_only_when_configured_and_the_last_recorded_result_at_start(station) -> None:
    config = dataclasses.replace(station, opcua=dataclasses.replace(station.opcua, allow_anonymous=True))
    store = Store(config.recorder.database, config.recorder.image_dir)
    store.record([{"camera": "top", "part_id": 41, "station": "station-1", "result": "REJECT", "source": "verdict",
                   "t_trigger": time.time() - 60, "latency_ms": 48.5, "plc_delivered": 1, "model_version": "disc v1.3"}])
    store.close()

    async def scenario() -> None:
        stop, ready = asyncio.Event(), asyncio.Event()
        server = asyncio.create_task(serve(config, stop, ready=ready, feed_factory=_NoEvents))
        await asyncio.wait_for(ready.wait(), 30)
        try:
            anonymous = Client(config.opcua.endpoint, timeout=5)
            async with anonymous:
                ns = await anonymous.get_namespace_index(NAMESPACE)
                state = await anonymous.nodes.objects.get_child([f"{ns}:VisionSystem", f"{ns}:VisionStateMachine", f"{ns}:CurrentState"])
                assert await state.read_value() == "Initialized"
                last = await anonymous.nodes.objects.get_child([f"{ns}:VisionSystem", f"{ns}:ResultManagement", f"{ns}:LastResult"])
                values = [await (await last.get_child(f"{ns}:{n}")).read_value() for n in ("ResultId", "Result", "ModelVersion", "LatencyMs")]
                assert values == ["top:41", "REJECT", "disc v1.3", 48.5]
        finally:
            stop.set()
            await server

    asyncio.run(scenario())


@pytest.mark.slow
def test_the_line_with_opcua_on_serves_the_last_decided_part(line_config, tmp_path: Path) -> None:
    """`inspector run` with opcua.enabled: the supervised server follows the real line's parts."""
    from inspector.line_runner import part_rows, running_line
    from tests.helpers import wait_until

    config = line_config(parts=20, rate_hz=5)
    config = dataclasses.replace(config, opcua=dataclasses.replace(
        config.opcua, enabled=True, endpoint=f"opc.tcp://127.0.0.1:{free_tcp_port()}/inspector/", folder=str(tmp_path / "opcua")))
    init_certs(config, "scada")

    async def read(names: list[str]) -> list:
        client = await secure_client(config)
        async with client:
            ns = await client.get_namespace_index(NAMESPACE)
            system = await client.nodes.objects.get_child(f"{ns}:VisionSystem")
            return [await (await system.get_child([f"{ns}:{p}" for p in name.split("/")])).read_value() for name in names]

    with running_line(config, tmp_path) as supervisor:
        rows = wait_until(lambda: len(part_rows(config)) >= 20 and part_rows(config), 120, "20 decided parts")
        asyncio.run(server_up(config))  # the supervised server starts in its own time
        last = max(rows, key=lambda r: r["t_trigger"])
        names = ["ResultManagement/LastResult/ResultId", "ResultManagement/LastResult/Result",
                 "ResultManagement/LastResult/ModelVersion", "VisionStateMachine/CurrentState"]
        values = wait_until(lambda: (v := asyncio.run(read(names)))[0] == f"top:{last['part_id']}" and v, 30, "the last part on OPC UA")
        assert supervisor.process("opcua").restarts == 0
    assert values[1:3] == [last["result"], last["model_version"]]
    assert values[3] in ("ContinuousExecution", "Ready")
