"""One connection to the MQTT broker (paho-mqtt 2), with the station's birth and last will.

Each connection is a fresh paho client: when it drops, the client and what it
had in flight are discarded, and the publisher sends again, in order, every
message its outbox still holds (only a PUBACK deletes one). The broker sees
the station's retained ``online`` state at connect and, by last will, its
``offline`` state when the station goes silent; a clean stop publishes
``offline`` itself.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections import deque
from pathlib import Path

import paho.mqtt.client as mqtt

from inspector.config.schema import MqttConfig
from inspector.errors import ConfigError

log = logging.getLogger(__name__)

QOS = 1
CONNECT_TIMEOUT_S = 5.0


class MqttLink:
    def __init__(self, config: MqttConfig, client_id: str, will_topic: str, will_payload: bytes) -> None:
        self.config = config
        self.client_id = client_id
        self.will_topic = will_topic
        self.will_payload = will_payload
        self.client: mqtt.Client | None = None
        self.acked: deque[int] = deque()  # message ids the broker acknowledged (paho's thread appends)
        self.activity = threading.Event()  # set on every ack and on disconnect: the publisher wakes up
        self._connected = threading.Event()
        self._lost = threading.Event()
        self.last_error = ""
        self._attempt: threading.Thread | None = None
        self._attempt_ok = False
        self._password = _read_password(config.password_file) if config.username and config.password_file else None

    @property
    def connected(self) -> bool:
        return self._attempt is None and self.client is not None and self._connected.is_set() and not self._lost.is_set()

    @property
    def lost(self) -> bool:
        """The connection made earlier has dropped (the caller then calls :meth:`drop`)."""
        return self._attempt is None and self.client is not None and self._lost.is_set()

    def _new_client(self) -> mqtt.Client:
        c = self.config
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=True, protocol=mqtt.MQTTv311)
        client.max_inflight_messages_set(c.max_inflight)
        client.max_queued_messages_set(0)
        client.will_set(self.will_topic, self.will_payload, qos=QOS, retain=True)
        if c.username:
            client.username_pw_set(c.username, self._password)
        if c.tls is not None:
            client.tls_set(ca_certs=c.tls.ca_file, certfile=c.tls.cert_file, keyfile=c.tls.key_file, cert_reqs=ssl.CERT_REQUIRED)
            client.tls_insecure_set(not c.tls.check_hostname)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        return client

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.last_error = f"the broker refused the connection: {reason_code}"
            self._lost.set()
        else:
            self._connected.set()
        self.activity.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if not self.last_error:  # a refusal (CONNACK) says more than the disconnection that follows it
            self.last_error = f"disconnected: {reason_code}"
        self._lost.set()
        self.activity.set()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self.acked.append(mid)
        self.activity.set()

    def begin_connect(self) -> None:
        """Start one connection attempt on a thread of its own: a broker that is slow to answer (or a
        firewall that drops packets) never holds up the publisher's loop. See :meth:`connect_result`."""
        self.drop()
        self._connected.clear()
        self._lost.clear()
        self.acked.clear()
        self.last_error = ""
        self._attempt_ok = False
        self._attempt = threading.Thread(target=self._connect_worker, name="mqtt-connect", daemon=True)
        self._attempt.start()

    @property
    def connecting(self) -> bool:
        return self._attempt is not None and self._attempt.is_alive()

    def connect_result(self) -> bool | None:
        """The outcome of the attempt begun last, once (None while it runs or when there is none)."""
        if self._attempt is None or self._attempt.is_alive():
            return None
        self._attempt = None
        if not self._attempt_ok:
            self.drop()
        return self._attempt_ok

    def _connect_worker(self) -> None:
        client = self._new_client()
        client.connect_timeout = CONNECT_TIMEOUT_S
        try:
            client.connect(self.config.host, self.config.port, keepalive=self.config.keepalive_s)
        except (OSError, ssl.SSLError, ValueError) as err:
            self.last_error = f"cannot reach the broker at {self.config.host}:{self.config.port}: {err}"
            return
        self.client = client
        client.loop_start()
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while not (self._connected.is_set() or self._lost.is_set()) and time.monotonic() < deadline:
            time.sleep(0.02)
        if self._connected.is_set() and not self._lost.is_set():
            self._attempt_ok = True
        else:
            self.last_error = self.last_error or f"no answer from the broker at {self.config.host}:{self.config.port} (CONNACK)"
        self.activity.set()

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> int | None:
        """Send one QoS 1 message; its message id, or None when the connection is gone."""
        if self.client is None:
            return None
        info = self.client.publish(topic, payload, qos=QOS, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self._lost.set()
            return None
        return info.mid

    def drop(self) -> None:
        """Forget the connection and everything it had in flight."""
        client, self.client = self.client, None
        if client is not None:
            try:
                client.disconnect()
            except Exception as err:  # noqa: BLE001 - a dead socket may refuse even that; the client is dropped anyway
                log.debug("MQTT: disconnect of a dropped connection: %s", err)
            client.loop_stop()

    def close(self, goodbye: tuple[str, bytes] | None = None) -> None:
        """Clean stop: publish ``goodbye`` (retained, waiting briefly for it) and disconnect."""
        if self._attempt is not None:
            self._attempt.join(CONNECT_TIMEOUT_S * 2 + 1)
            self.connect_result()
        if self.connected and goodbye is not None:
            info = self.client.publish(goodbye[0], goodbye[1], qos=QOS, retain=True)
            try:
                info.wait_for_publish(2.0)
            except (RuntimeError, ValueError):
                pass
        self.drop()


def _read_password(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError as err:
        raise ConfigError("plant.mqtt.password_file", f"cannot read {path}: {err.strerror}") from err


