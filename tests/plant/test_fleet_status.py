"""Several stations on one real broker: retained state (birth, last will) and KPIs, read back by 'inspector fleet status'."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from inspector.alarms.board import AlarmBoard
from inspector.alarms.board_store import BoardStore
from inspector.messages import Alarm
from inspector.plant.namespace import topic_root
from tests.helpers import wait_until
from tests.plant.conftest import station_config
from tests.plant.plant_clients import DecisionSource, Subscriber, validate

pytestmark = pytest.mark.slow


def fleet_status(broker) -> dict[str, list[str]]:
    """The CLI's table, by station path."""
    run = subprocess.run([sys.executable, "-m", "inspector", "fleet", "status", "--broker", broker.address, "--path", "acme/plant1"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].split()[:3] == ["station", "state", "since"]
    return {line.split()[0]: line.split() for line in lines[1:]}


def latest(subscriber: Subscriber, schema: str, path: str) -> dict | None:
    found = [p for p in subscriber.payloads(schema) if p["path"] == path]
    return found[-1] if found else None


def test_fleet_status_shows_each_station_its_state_and_counts(tmp_path, broker, publishers):
    one = station_config(tmp_path / "one", "cell-1", broker)
    two = station_config(tmp_path / "two", "cell-2", broker)
    paths = {name: topic_root(c) for name, c in (("one", one), ("two", two))}
    watcher = Subscriber(broker.port, "acme/#", client_id="fleet-watcher")
    sources = [DecisionSource(one), DecisionSource(two)]
    sources[0].write(30)
    sources[0].write(10, result="REJECT")
    sources[0].write(2, result="FAILSAFE_REJECT")
    sources[1].write(25)
    board = AlarmBoard("cell-1", BoardStore(one.station.state_dir), unacked_keep_s=3600, max_shelve_s=3600, owners=None,
                       now=time.time())  # the station's alarm board, as its actuator keeps it
    board.apply(Alarm("cell-1", "camera:top", "camera_lost", "critical", "camera top lost", time.time()), time.time())
    board.apply(Alarm("cell-1", "camera:top", "drift_brightness", "warning", "darker", time.time()), time.time())
    board.apply(Alarm("cell-1", "camera:top", "drift_brightness", "warning", "back", time.time(), active=False), time.time())
    board.flush()
    pub_one, pub_two = publishers(one, tmp_path / "one"), publishers(two, tmp_path / "two")
    try:
        pub_one.start()
        pub_two.start()
        wait_until(lambda: (k := latest(watcher, "inspector.kpi", paths["one"])) and k["total"]["inspected"] == 42, 60, "station one's KPIs")
        wait_until(lambda: (k := latest(watcher, "inspector.kpi", paths["two"])) and k["total"]["inspected"] == 25, 60, "station two's KPIs")
        for payload in watcher.payloads("inspector.kpi")[-2:] + watcher.payloads("inspector.station_state"):
            validate(payload)
        window = latest(watcher, "inspector.kpi", paths["one"])["window"]
        assert (window["inspected"], window["passed"], window["rejected"], window["failsafe"]) == (42, 30, 10, 2)
        assert window["reject_rate"] == pytest.approx(12 / 42)

        table = fleet_status(broker)
        assert set(table) == {paths["one"], paths["two"]}
        one_row, two_row = table[paths["one"]], table[paths["two"]]
        assert one_row[1] == "online" and two_row[1] == "online"
        # since (date time), parts, passed, rejected, fail-safe, reject rate
        assert one_row[4:9] == ["42", "30", "10", "2", "28.6%"]
        assert two_row[4:9] == ["25", "25", "0", "0", "0.0%"]
        assert one_row[-1] == "camera_lost!" and two_row[-1] == "none", "active alarms (critical marked '!')"

        assert pub_one.stop() == 0  # a clean stop says 'offline' itself
        pub_two.kill()  # a silent death: the broker publishes the last will after 1.5 keep-alives
        wait_until(lambda: (s := latest(watcher, "inspector.station_state", paths["two"])) and s["state"] == "offline", 60,
                   "station two's last will")
        table = fleet_status(broker)
        assert table[paths["one"]][1] == "offline" and table[paths["two"]][1] == "offline"
    finally:
        watcher.close()
        for s in sources:
            s.close()


def test_fleet_status_names_an_unreachable_broker():
    from inspector.netutil import free_tcp_port

    run = subprocess.run([sys.executable, "-m", "inspector", "fleet", "status", "--broker", f"127.0.0.1:{free_tcp_port()}"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode != 0
    assert "cannot reach the broker at 127.0.0.1:" in run.stderr
