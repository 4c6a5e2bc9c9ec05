"""OPC UA SelectModel through the model registry, with asyncua's own client against the real server.

A selection promotes the recipe's package (only one that passed a gate or was
production before), audited with the client's certificate subject; the server
shows it pending, then active once a verdict carries its version, and rolled
back when the registry leaves it. On a running line the detector swaps to it
between parts: every part exactly one decision.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from pathlib import Path

import pytest
import zmq
from asyncua import ua

from calibration.station import open_audit_trail
from inspector.channels import LineSockets
from inspector.modelops.registry import ModelRegistry
from inspector.netutil import free_tcp_port
from inspector.opcua.certs import init_certs
from inspector.opcua.models import select_model
from inspector.opcua.server import NAMESPACE, serve
from inspector.transport import send_message
from tests.integration.test_opcua_server import decision, secure_client, server_up
from tests.modelops.packages import bundled_model, trusting_test_key, variant

pytestmark = pytest.mark.timeout(300)


def with_opcua(config, tmp_path: Path, recipes: dict[str, str]):
    opcua = dataclasses.replace(config.opcua, enabled=True, endpoint=f"opc.tcp://127.0.0.1:{free_tcp_port()}/inspector/",
                                folder=str(tmp_path / "opcua"), recipes=recipes)
    config = dataclasses.replace(config, opcua=opcua)
    init_certs(config, "scada")
    return config


async def recipe_nodes(client) -> dict:
    ns = await client.get_namespace_index(NAMESPACE)
    recipes = await client.nodes.objects.get_child([f"{ns}:VisionSystem", f"{ns}:RecipeManagement"])
    nodes = {n: await recipes.get_child(f"{ns}:{n}")
             for n in ("AvailableModels", "SelectedModel", "SelectionState", "SelectionText", "ActiveModel")}
    return {"ns": ns, "recipes": recipes, **nodes}


async def wait_value(node, expected, what: str, publish=None, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while (value := await node.read_value()) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {value!r}")
        if publish:
            publish()
        await asyncio.sleep(0.1)


def test_a_formerly_production_package_is_selected_audited_and_followed_an_ungated_one_is_refused(line_config, tmp_path):
    config = trusting_test_key(line_config(), tmp_path)
    with ModelRegistry(config) as registry:
        a, _ = registry.install(bundled_model(config), "quality")
        registry.promote(a.label, "quality", reason="baseline", force=True)
        b, _ = registry.install(variant(config, tmp_path, "B-previous"), "quality")
        registry.promote(b.label, "quality", reason="product B run", force=True)
        registry.promote(a.label, "quality", reason="product A run", force=True)  # B is in the slot's history now
        c, _ = registry.install(variant(config, tmp_path, "C-ungated"), "quality")
    config = with_opcua(config, tmp_path, {"product-b": b.label, "product-c": c.package_id[:12]})
    ctx = zmq.Context()
    actuator = LineSockets(config, "actuator", ctx)
    events = actuator.open("events")

    async def scenario() -> None:
        stop, ready = asyncio.Event(), asyncio.Event()
        server = asyncio.create_task(serve(config, stop, idle_s=1.0, ready=ready))
        await asyncio.wait_for(ready.wait(), 30)
        try:
            client = await secure_client(config)
            async with client:
                n = await recipe_nodes(client)
                ns, recipes = n["ns"], n["recipes"]
                assert sorted(await n["AvailableModels"].read_value()) == ["default", "product-b", "product-c"]

                with pytest.raises(ua.UaStatusCodeError) as refused:
                    await recipes.call_method(f"{ns}:SelectModel", "product-c")
                assert refused.value.code == ua.StatusCodes.BadRequestNotAllowed
                assert await n["SelectionState"].read_value() == "refused"
                assert "never passed a gate and was never in production" in await n["SelectionText"].read_value()

                status = await recipes.call_method(f"{ns}:SelectModel", "product-b")
                assert status.startswith("product-b: pending;") and b.label in status
                assert [await n[k].read_value() for k in ("SelectedModel", "SelectionState")] == ["product-b", "pending"]

                # a verdict of A (the swap not made yet) leaves it pending; B's verdict makes it active
                send_message(events, decision(1, "PASS", model=a.label))
                await wait_value(n["ActiveModel"], a.label, "A deciding", publish=lambda: send_message(events, decision(1, "PASS", model=a.label)))
                assert await n["SelectionState"].read_value() == "pending"
                await wait_value(n["SelectionState"], "active", "the selection active",
                                 publish=lambda: send_message(events, decision(2, "PASS", model=b.label)))
                assert await n["ActiveModel"].read_value() == b.label

                # someone rolls the registry back: the server says the selection is no longer what runs
                with ModelRegistry(config) as registry:
                    registry.rollback("admin", reason="escapes reported")
                await wait_value(n["SelectionState"], "rolled back", "the rollback shown")
                text = await n["SelectionText"].read_value()
                assert f"{b.label} was replaced by {a.label} after it decided parts: escapes reported (by admin)" == text
        finally:
            stop.set()
            await server

    try:
        asyncio.run(scenario())
    finally:
        events.close(0)
        actuator.close()
        ctx.term()

    with open_audit_trail(config) as trail:
        promotes = [e for e in trail.entries("model_promote") if e.after["label"] == b.label]
    selected = promotes[-1]
    assert selected.user.startswith("OPC UA ") and "CN=scada" in selected.user
    assert selected.after["reason"] == "selected over OPC UA" and selected.after["forced"] is False
    assert selected.after["selection_approval"] == "it was a production model of slot primary"
    assert len([e for e in promotes if e.user.startswith("OPC UA")]) == 1, "the refused selection promoted nothing"


def test_a_station_whose_detector_does_not_follow_the_registry_refuses_selections(line_config, tmp_path):
    config = line_config()
    config = dataclasses.replace(config, models=dataclasses.replace(config.models, follow_production=False))
    status = select_model(config, "default", "OPC UA CN=scada")
    assert status.state == "refused" and "models.follow_production is off" in status.text


# -- on a running line ----------------------------------------------------------------------------------------


def build_golden_set(config, tmp_path: Path) -> None:
    from inspector.datasets_tool import ImportOptions, import_dataset
    from inspector.synthetic.dataset import SplitSpec, write_yolo_dataset
    from inspector.synthetic.parts import PartGenerator

    write_yolo_dataset(tmp_path / "golden-src", PartGenerator(seed=7301), [SplitSpec("test", 0, 12)])
    dataset = import_dataset(tmp_path / "golden-src", tmp_path / "golden-dataset", ImportOptions("yolo", keep_source_splits=True)).path
    with ModelRegistry(config) as registry:
        golden = registry.golden()
        golden.add_dataset_split(dataset, "test", "quality")
        golden.build("quality")


@pytest.mark.slow
def test_selecting_a_gated_model_over_opcua_swaps_the_running_line_between_parts(line_config, tmp_path):
    from inspector.line_runner import part_rows, running_line
    from inspector.modelops.gate import run_gate
    from tests.helpers import wait_until

    config = trusting_test_key(line_config(parts=0, rate_hz=8, budget_ms=5000), tmp_path)
    build_golden_set(config, tmp_path)
    with ModelRegistry(config) as registry:
        a, _ = registry.install(bundled_model(config), "quality")
        registry.promote(a.label, "quality", reason="the line's baseline", force=True)
        b, _ = registry.install(variant(config, tmp_path, "B-product"), "quality")
        report, _ = run_gate(registry, registry.golden(), b.label, "quality")
        assert report.passed, report.reasons
        x, _ = registry.install(variant(config, tmp_path, "X-ungated"), "quality")
    config = with_opcua(config, tmp_path, {"product-b": b.label, "product-x": x.label})

    def parts_on(label: str) -> int:
        return sum(1 for r in part_rows(config) if r["model_version"] == label)

    async def select(name: str):
        await server_up(config)
        client = await secure_client(config)
        async with client:
            n = await recipe_nodes(client)
            try:
                return await n["recipes"].call_method(f"{n['ns']}:SelectModel", name)
            except ua.UaStatusCodeError as err:
                return err.code, await n["SelectionText"].read_value()

    async def read(names: list[str]) -> list:
        client = await secure_client(config)
        async with client:
            n = await recipe_nodes(client)
            return [await n[name].read_value() for name in names]

    with running_line(config, tmp_path / "run") as supervisor:
        wait_until(lambda: parts_on(a.label) >= 5, 120, "5 parts decided by A")
        code, text = asyncio.run(select("product-x"))
        assert code == ua.StatusCodes.BadRequestNotAllowed and "never passed a gate" in text
        assert "pending" in asyncio.run(select("product-b"))
        wait_until(lambda: parts_on(b.label) >= 6, 120, "6 parts decided by B")
        state = wait_until(lambda: (v := asyncio.run(read(["SelectionState", "ActiveModel"])))[0] == "active" and v, 30,
                           "the selection shown active")
        assert supervisor.process("opcua").restarts == 0
    assert state == ["active", b.label]
    rows = part_rows(config)
    assert [r["part_id"] for r in rows] == list(range(1, len(rows) + 1)), "every part exactly one decision"
    assert {r["source"] for r in rows} == {"verdict"}, "no part waited for a model across the swap"
    assert [v for v, _ in itertools.groupby(r["model_version"] for r in rows)] == [a.label, b.label], "A, then B from one part on"
    with open_audit_trail(config) as trail:
        promote = trail.latest("model_promote")
    assert promote.after["label"] == b.label and "CN=scada" in promote.user
    assert promote.after["reason"] == "selected over OPC UA"
    assert promote.after["selection_approval"].startswith("it passed its gate on golden set golden-v1-")
    with ModelRegistry(config) as registry:
        assert registry.production().slot("primary").package == b.package_id


@pytest.mark.slow
def test_a_selected_model_the_detector_refuses_shows_rolled_back_and_never_decides_a_part(line_config, tmp_path):
    """A formerly-production package that no longer runs (NaN scores): the detector's automatic rollback shows on OPC UA."""
    from inspector.line_runner import alarm_rows, part_rows, running_line
    from tests.helpers import wait_until

    config = trusting_test_key(line_config(parts=0, rate_hz=8, budget_ms=5000), tmp_path)
    with ModelRegistry(config) as registry:
        a, _ = registry.install(bundled_model(config), "quality")
        registry.promote(a.label, "quality", reason="the line's baseline", force=True)
        bad, _ = registry.install(variant(config, tmp_path, "N-nan", nan_outputs=True), "quality")
        registry.promote(bad.label, "quality", reason="product N run", force=True)
        registry.promote(a.label, "quality", reason="product A run", force=True)  # N is in the slot's history
    config = with_opcua(config, tmp_path, {"product-n": bad.label})

    async def select_and_wait() -> tuple[str, list]:
        await server_up(config)
        client = await secure_client(config)
        async with client:
            n = await recipe_nodes(client)
            status = await n["recipes"].call_method(f"{n['ns']}:SelectModel", "product-n")
            await wait_value(n["SelectionState"], "rolled back", "the detector's rollback on OPC UA", timeout_s=120)
            return status, [await n[k].read_value() for k in ("SelectionText", "ActiveModel")]

    with running_line(config, tmp_path / "run"):
        wait_until(lambda: len(part_rows(config)) >= 5, 120, "5 parts decided by A")
        status, (text, active) = asyncio.run(select_and_wait())
        count = len(part_rows(config))
        wait_until(lambda: len(part_rows(config)) >= count + 5, 120, "5 more parts after the rollback")
    assert status.startswith("product-n: pending;")
    assert text.startswith(f"{bad.label} was replaced by {a.label} before it decided a part: automatic: ")
    assert text.endswith("(by detector)") and active == a.label
    rows = part_rows(config)
    assert [r["part_id"] for r in rows] == list(range(1, len(rows) + 1)), "every part exactly one decision"
    assert {r["model_version"] for r in rows} == {a.label} and {r["source"] for r in rows} == {"verdict"}
    assert any(r["code"] == "model_rollback" for r in alarm_rows(config))
