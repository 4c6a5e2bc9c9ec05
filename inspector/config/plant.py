"""The ``plant`` section of the station config: publishing to the plant over MQTT, and Prometheus metrics."""

from __future__ import annotations

from dataclasses import dataclass

from inspector.typed import spec


@dataclass(frozen=True)
class MqttTopic:
    """Where this station sits in the plant's ISA-95 hierarchy: its MQTT topics start with these segments."""

    enterprise: str = spec("enterprise", doc="ISA-95 enterprise: the first topic segment.")
    site: str = spec("site", doc="ISA-95 site (plant).")
    area: str = spec("area", doc="ISA-95 area (hall, department).")
    line: str = spec("line", doc="ISA-95 line (production line).")
    cell: str | None = spec(None, doc="ISA-95 work cell: this station (None = station.name).")


@dataclass(frozen=True)
class MqttTls:
    ca_file: str = spec(doc="CA certificate (PEM) the broker's certificate must chain to.")
    cert_file: str | None = spec(None, doc="Client certificate (PEM), for brokers that authenticate clients by certificate.")
    key_file: str | None = spec(None, doc="Private key (PEM) of 'cert_file'; owner-only.")
    check_hostname: bool = spec(True, doc="Check that the broker's certificate names 'host' (turn off only for a broker addressed by IP without one).")


@dataclass(frozen=True)
class MqttOutbox:
    path: str | None = spec(None, doc="SQLite outbox (WAL, owner-only) holding messages until the broker acknowledged them (None = 'mqtt-outbox.db' in station.state_dir).")
    max_messages: int = spec(100000, doc="Most messages the outbox holds while the broker is away.", minimum=10)
    max_mb: float = spec(200.0, doc="Largest size of the outbox's messages, in MiB.", minimum=0.1)


@dataclass(frozen=True)
class MqttConfig:
    enabled: bool = spec(
        False,
        doc="Publish this station's part results, state, alarms and KPIs to an MQTT broker (unified namespace; "
        "see docs/mqtt.md): a 'publisher' service under the supervisor, reading what the recorder stored.",
    )
    host: str = spec("127.0.0.1", doc="Broker host name or address.")
    port: int = spec(1883, doc="Broker port (8883 is the usual one with TLS).", minimum=1, maximum=65535)
    client_id: str | None = spec(None, doc="MQTT client id (None = 'inspector-<station.name>'); unique per broker.")
    keepalive_s: int = spec(30, doc="MQTT keep-alive: the broker publishes the station's death this long (x1.5) after it went silent.", minimum=5, maximum=3600)
    username: str | None = spec(None, doc="User name for the broker (None = anonymous).")
    password_file: str | None = spec(None, doc="File holding the broker password (one line, owner-only); needs 'username'.")
    tls: MqttTls | None = spec(None, doc="TLS to the broker (None = plain TCP, acceptable on loopback only).")
    topic: MqttTopic = spec(factory=MqttTopic, doc="The ISA-95 topic tree: <enterprise>/<site>/<area>/<line>/<cell>/...")
    outbox: MqttOutbox = spec(factory=MqttOutbox, doc="Store-and-forward: messages wait on disk while the broker is away.")
    max_inflight: int = spec(100, doc="Messages sent and not yet acknowledged by the broker (PUBACK) at any time.", minimum=1, maximum=10000)
    kpi_interval_s: float = spec(10.0, doc="How often the station's KPIs are published (retained).", minimum=0.5, maximum=3600)
    kpi_window_s: float = spec(3600.0, doc="The KPIs count the parts decided in this last stretch of time (and since the database began).", minimum=1)
    reconnect_backoff_max_s: float = spec(
        1.0, doc="Longest wait between attempts to reach the broker (doubles from 0.2 s); the broker's return is seen, and "
        "mqtt_broker_unreachable cleared, within this time.", minimum=0.2, maximum=600)


@dataclass(frozen=True)
class MetricsConfig:
    enabled: bool = spec(
        False,
        doc="Each service serves Prometheus metrics on its own port (see docs/metrics.md): actuator base_port, "
        "recorder +1, publisher +2, detector instance i +10+i, camera i (in 'cameras' order) +20+i.",
    )
    host: str = spec(
        "127.0.0.1",
        doc="Address the metrics endpoints listen on: loopback by default; '0.0.0.0' or a LAN address for a Prometheus "
        "on another host (then set 'username' and 'password_file': without them any host that reaches the port reads "
        "the station's counts, and each endpoint says so in a warning at start).",
    )
    base_port: int = spec(9300, doc="First metrics port (see 'enabled' for the others).", minimum=1, maximum=65000)
    username: str | None = spec(
        None,
        doc="HTTP basic authentication of the endpoints: the user name Prometheus sends (its scrape config's "
        "basic_auth). None = no authentication. Needs 'password_file'.",
    )
    password_file: str | None = spec(
        None, doc="File holding the endpoints' basic-auth password (one line, owner-only); needs 'username'."
    )


@dataclass(frozen=True)
class PlantConfig:
    mqtt: MqttConfig = spec(factory=MqttConfig, doc="MQTT unified namespace with store-and-forward (off by default).")
    metrics: MetricsConfig = spec(factory=MetricsConfig, doc="Prometheus metrics of every service (off by default).")
