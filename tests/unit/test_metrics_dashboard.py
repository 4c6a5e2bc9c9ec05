"""The shipped Grafana dashboard queries only metrics the services export."""

from __future__ import annotations

import json
import re
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from prometheus_client import CollectorRegistry, generate_latest

from inspector.alarms.board import AlarmBoard
from inspector.alarms.board_store import BoardStore
from inspector.messages import Alarm, Decision, Verdict
from inspector.plant.metrics import DecisionMetrics, ServiceCounters, StandingAlarms, SupervisedServices
from inspector.records.store import decision_row

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "inspector.json"


def exported_names() -> set[str]:
    registry = CollectorRegistry()
    metrics = DecisionMetrics(registry, "st")
    now = time.time()
    for part_id, result, source in ((1, "PASS", "verdict"), (2, "FAILSAFE_REJECT", "deadline")):
        verdict = Verdict("st", "top", part_id, part_id, "PASS", now, now, "m1", [], {"inference": 20.0}) if source == "verdict" else None
        delivered = source == "verdict"
        metrics.observe_decision(decision_row(Decision("st", "top", part_id, part_id, result, source, now, now + 0.01, delivered,
                                                       now + 0.03 if delivered else None, "" if delivered else "PLC away", verdict)))
    metrics.observe_alarm(Alarm("st", "camera", "camera_lost", "critical", "gone", now))
    registry.register(ServiceCounters("st", "publisher", lambda: {"messages_sent": 3, "outbox_messages": 2}))
    process = SimpleNamespace(name="actuator", running=True, sends_heartbeats=True, last_beat=time.monotonic(), restarts=0,
                              watched=False)
    registry.register(SupervisedServices("st", lambda: [process], 5.0))
    with tempfile.TemporaryDirectory() as folder:  # the actuator's alarm board, on disk as it keeps it
        board = AlarmBoard("st", BoardStore(folder), unacked_keep_s=3600, max_shelve_s=3600, owners=None, now=now)
        board.apply(Alarm("st", "camera:top", "camera_lost", "critical", "gone", now), now)
        registry.register(StandingAlarms("st", lambda: board.entries.values()))
        text = generate_latest(registry).decode()
        board.store.close()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}


def test_every_metric_of_the_dashboard_is_exported():
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    wanted = {name for e in exprs for name in re.findall(r"\binspector_[a-z_]+", e)}
    assert wanted, "the dashboard has queries"
    assert wanted <= exported_names(), wanted - exported_names()
