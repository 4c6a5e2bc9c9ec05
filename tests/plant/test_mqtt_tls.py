"""TLS with client certificates and a password, against a real Mosquitto that requires both."""

from __future__ import annotations

import dataclasses
import os
import subprocess

import pytest

from inspector.config.schema import MqttTls
from inspector.plant.namespace import outbox_path, topic_root
from tests.helpers import wait_until
from tests.plant.conftest import station_config
from inspector.bench.mosquitto import LocalBroker
from tests.plant.plant_clients import DecisionSource, outbox_count
from tests.plant.tls_material import make_tls_material

pytestmark = pytest.mark.slow


@pytest.fixture
def secure_broker(tmp_path):
    tls = make_tls_material(tmp_path / "tls")
    passwords = tmp_path / "tls" / "passwords"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "station", "s3cret"], check=True, capture_output=True)
    broker = LocalBroker(tmp_path / "secure-broker", listener_options=(
        f"cafile {tls['ca']}\ncertfile {tls['server']}\nkeyfile {tls['server_key']}\n"
        f"require_certificate true\nallow_anonymous false\npassword_file {passwords}\n"
    ))
    broker.start()
    try:
        yield broker, tls
    finally:
        broker.stop()


def secured(config, tls, password_file, username="station"):
    mqtt = dataclasses.replace(
        config.plant.mqtt, username=username, password_file=str(password_file),
        tls=MqttTls(ca_file=str(tls["ca"]), cert_file=str(tls["client"]), key_file=str(tls["client_key"])),
    )
    return dataclasses.replace(config, plant=dataclasses.replace(config.plant, mqtt=mqtt))


def tls_subscriber(broker, tls, topic):
    import json
    import ssl

    import paho.mqtt.client as mqtt

    got = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="tls-subscriber")
    client.username_pw_set("station", "s3cret")
    client.tls_set(ca_certs=str(tls["ca"]), certfile=str(tls["client"]), keyfile=str(tls["client_key"]), cert_reqs=ssl.CERT_REQUIRED)
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
    client.on_message = lambda c, u, m: got.append(json.loads(m.payload))
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client, got


def test_parts_go_over_tls_with_a_client_certificate_and_password(tmp_path, secure_broker, publishers):
    broker, tls = secure_broker
    password_file = tmp_path / "mqtt-password"
    password_file.write_text("s3cret\n")
    os.chmod(password_file, 0o600)
    config = secured(station_config(tmp_path / "st", "cell-tls", broker), tls, password_file)
    client, got = tls_subscriber(broker, tls, f"{topic_root(config)}/parts/#")
    source = DecisionSource(config)
    publisher = publishers(config, tmp_path / "st")
    try:
        publisher.start()
        source.write(20)
        wait_until(lambda: len({p["part_id"] for p in got}) >= 20, 60, "20 parts over TLS")
    finally:
        client.disconnect()
        client.loop_stop()
        source.close()
        publisher.stop()


def test_a_wrong_password_is_refused_by_name_and_the_parts_wait(tmp_path, secure_broker, publishers):
    broker, tls = secure_broker
    password_file = tmp_path / "mqtt-password"
    password_file.write_text("wrong\n")
    config = secured(station_config(tmp_path / "st", "cell-bad", broker), tls, password_file)
    source = DecisionSource(config)
    publisher = publishers(config, tmp_path / "st")
    try:
        publisher.start()
        source.write(5)
        wait_until(lambda: outbox_count(outbox_path(config)) == 5, 60, "the parts kept in the outbox")
        wait_until(lambda: "the broker refused the connection" in publisher.log.read_text(), 60, "the refusal in the publisher's log")
    finally:
        source.close()
        assert publisher.stop() == 0, "a refused connection does not stop the publisher"
    assert "Not authorized" in publisher.log.read_text() or "Bad user name or password" in publisher.log.read_text()

