"""Publisher service: the station's results, state, alarms and KPIs to the plant's MQTT broker.

Off the decision path: it reads what the recorder stored (see
:mod:`inspector.plant.recorder_tail`), puts it in the on-disk outbox
(:mod:`inspector.plant.outbox`), and sends the outbox in order to the broker
with QoS 1, deleting each message only at its PUBACK. While the broker is
away the outbox fills; while the outbox is full, newer results wait in the
recorder's database. Both raise an alarm, cleared when it is over.
"""

from __future__ import annotations

import logging
import time

from inspector.config.schema import Config
from inspector.alarms.board_store import standing_alarms
from inspector.errors import ConfigError, StoreError

from inspector.plant import namespace as ns
from inspector.plant.mqtt_link import MqttLink
from inspector.plant.outbox import Outbox
from inspector.plant.recorder_tail import (
    ALARMS,
    KPI_COUNTS,
    PARTS,
    RecorderTail,
    count_parts,
    follow_database,
)
from inspector.services.base import Service

log = logging.getLogger(__name__)

TAIL_PERIOD_S = 0.2
BROKER_LOST_ALARM_AFTER_S = 10.0
BACKOFF_INITIAL_S = 0.2
LAST_PART_MS = "last_part_decided_ms"


class PublisherService(Service):
    kind = "publisher"

    def __init__(self, config: Config, instance: str = "") -> None:
        if not config.plant.mqtt.enabled:
            raise ConfigError("plant.mqtt.enabled", "is false: the publisher has nothing to do (set it to true and give the broker)")
        super().__init__(config, instance)

    def setup(self) -> None:
        mqtt = self.config.plant.mqtt
        self.mqtt = mqtt
        self.root = ns.topic_root(self.config)
        self.outbox = Outbox(ns.outbox_path(self.config), mqtt.outbox.max_messages, int(mqtt.outbox.max_mb * 1024 * 1024))
        self.tail = RecorderTail(self.config.recorder.database)
        self.link = MqttLink(mqtt, ns.client_id(self.config), ns.state_topic(self.root), ns.state_payload(self.root, self.config.station.name, "offline", time.time()))
        self.inflight: dict[int, int] = {}  # MQTT message id -> outbox id
        self.last_sent = 0  # outbox id of the last message handed to this connection
        self._next_tail = 0.0
        self._next_kpi = 0.0
        self._next_attempt = 0.0
        self._backoff = BACKOFF_INITIAL_S
        self._down_since: float | None = time.monotonic()
        self._alarmed = {"outbox_full": False, "broker_unreachable": False}

    # -- the loop ---------------------------------------------------------------
    def step(self, timeout_s: float) -> None:
        self.link.activity.clear()  # set again by any acknowledgement from here on, which ends the wait below
        now = time.monotonic()
        if now >= self._next_tail:
            self._take_new_rows()
            self._next_tail = now + TAIL_PERIOD_S
        if self.link.lost:
            self._connection_lost()
        if not self.link.connected:
            result = self.link.connect_result()
            if result is not None:
                self._attempt_done(result)
            elif not self.link.connecting and now >= self._next_attempt:
                self.link.begin_connect()
        if self.link.connected:
            self._settle_acks()
            self._send()
            if now >= self._next_kpi:
                self._publish_kpis()
                self._next_kpi = now + self.mqtt.kpi_interval_s
        self._check_broker_alarm()
        # everything waiting was sent (or the window is full): the next acknowledgement, connection change or
        # read of new rows is the next thing to do
        self.link.activity.wait(timeout_s)

    def _take_new_rows(self) -> None:
        self._follow_replaced_database()
        room = self.outbox.room()
        before = {PARTS: self.outbox.position(PARTS), ALARMS: self.outbox.position(ALARMS)}
        try:
            batch = self.tail.read(before[PARTS], self.outbox.taken(PARTS), before[ALARMS], room)
        except StoreError as err:  # busy, or being replaced by the recorder: read again next time, from the same place
            self.counters["database_read_failed"] += 1
            log.warning("cannot read the recorder's database %s: %s", self.config.recorder.database, err)
            self.tail.close()
            return
        messages = [(ns.part_topic(self.root, p["camera"]), ns.part_payload(p, self.root), False) for p in batch.parts]
        messages += [(ns.alarm_topic(self.root), ns.alarm_payload(a, self.root), False) for a in batch.alarms]
        positions = dict(batch.positions)
        if batch.parts:  # the station's running totals move with the parts taken, in the same transaction
            for key, n in count_parts(batch.parts).items():
                positions[f"total_{key}"] = self.outbox.position(f"total_{key}") + n
            positions[LAST_PART_MS] = int(max(p["t_decided"] or 0 for p in batch.parts) * 1000)
        if messages or any(before.get(k) != v for k, v in positions.items()):
            self.outbox.put(messages, positions, batch.taken, batch.released)
        self.counters["parts_queued"] += len(batch.parts)
        self.counters["alarms_queued"] += len(batch.alarms)
        if batch.held_back:
            self.counters["outbox_full_reads"] += 1
        self._outbox_alarm(batch.held_back)

    def _follow_replaced_database(self) -> None:
        if follow_database(self.tail, self.outbox):
            log.warning("the recorder's database %s is a new file: publishing it from its first row "
                        "(parts recorded again from the actuator's journal may be published twice)", self.config.recorder.database)
            self.counters["database_replaced"] += 1

    def _attempt_done(self, ok: bool) -> None:
        if ok:
            log.info("connected to the MQTT broker %s:%d; %d message(s) waiting", self.mqtt.host, self.mqtt.port, len(self.outbox))
            self.counters["connects"] += 1
            self._backoff = BACKOFF_INITIAL_S
            self._down_since = None
            self.inflight.clear()
            self.last_sent = 0
            self.link.publish(ns.state_topic(self.root), ns.state_payload(self.root, self.config.station.name, "online", time.time()), retain=True)
            self._next_kpi = 0.0
            return
        self.counters["connect_failures"] += 1
        log.warning("MQTT: %s; next attempt in %.1f s", self.link.last_error, self._backoff)
        self._next_attempt = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, self.mqtt.reconnect_backoff_max_s)

    def _connection_lost(self) -> None:
        self._settle_acks()
        log.warning("MQTT: connection lost (%s); %d message(s) not acknowledged are sent again", self.link.last_error, len(self.inflight))
        self.counters["disconnects"] += 1
        self.link.drop()
        self.inflight.clear()
        self.last_sent = 0
        self._down_since = time.monotonic()
        self._next_attempt = time.monotonic() + BACKOFF_INITIAL_S

    def _settle_acks(self) -> None:
        done = []
        while self.link.acked:
            outbox_id = self.inflight.pop(self.link.acked.popleft(), None)
            if outbox_id is not None:
                done.append(outbox_id)
        self.outbox.acknowledged(done)
        self.counters["messages_acknowledged"] += len(done)

    def _send(self) -> None:
        free = self.mqtt.max_inflight - len(self.inflight)
        if free <= 0:
            return
        for message in self.outbox.after(self.last_sent, free):
            mid = self.link.publish(message.topic, message.payload, message.retain)
            if mid is None:
                return
            self.inflight[mid] = message.id
            self.last_sent = message.id
            self.counters["messages_sent"] += 1

    def _publish_kpis(self) -> None:
        now = time.time()
        try:
            window = self.tail.window_counts(now - self.mqtt.kpi_window_s)
            active = standing_alarms(self.config.station.state_dir, now)
        except StoreError as err:
            log.warning("cannot count the last %.0f s of parts: %s", self.mqtt.kpi_window_s, err)
            return
        total = {key: self.outbox.position(f"total_{key}") for key in KPI_COUNTS}
        last = self.outbox.position(LAST_PART_MS) / 1000 or None
        payload = ns.kpi_payload(self.root, self.config.station.name, now, self.mqtt.kpi_window_s, window, total, last,
                                 len(self.outbox), active)
        self.link.publish(ns.kpi_topic(self.root), payload, retain=True)

    # -- alarms -----------------------------------------------------------------
    def _outbox_alarm(self, full: bool) -> None:
        if full == self._alarmed["outbox_full"]:
            return
        self._alarmed["outbox_full"] = full
        if full:
            self.alarm.raise_("mqtt_outbox_full",
                              f"the MQTT outbox is full ({len(self.outbox)} messages, {self.outbox.size_bytes / 1e6:.1f} MB); newer results "
                              "wait in the station's database and are published, in order, once the broker has taken the older ones")
        else:
            self.alarm.clear("mqtt_outbox_full", "the MQTT outbox has room again")

    def _check_broker_alarm(self) -> None:
        away = self._down_since is not None and time.monotonic() - self._down_since >= BROKER_LOST_ALARM_AFTER_S
        if away == self._alarmed["broker_unreachable"]:
            return
        self._alarmed["broker_unreachable"] = away
        if away:
            self.alarm.raise_("mqtt_broker_unreachable",
                              f"the MQTT broker {self.mqtt.host}:{self.mqtt.port} is unreachable ({self.link.last_error}); results are "
                              "kept in the outbox and published when it is back")
        else:
            self.alarm.clear("mqtt_broker_unreachable", "the MQTT broker is reachable again")

    def heartbeat_counters(self) -> dict[str, int]:
        return {**self.counters, "outbox_messages": len(self.outbox) if hasattr(self, "outbox") else 0}

    def teardown(self) -> None:
        if hasattr(self, "link"):
            if self.link.connected:
                self._settle_acks()
            self.link.close((ns.state_topic(self.root), ns.state_payload(self.root, self.config.station.name, "offline", time.time())))
            self.tail.close()
            self.outbox.close()
