"""The station's processes, in one registry: the line's services and the helpers the supervisor runs beside them.

Each entry says how the process is started (a service class, run by
``inspector service NAME``; or the ``inspector`` command's words; or, for the
PLC simulator, cpppo's own program), how many of it run (one per camera, one
per detector instance), which line key it holds (its identity in
:mod:`inspector.line_keys`; which channels that identity binds or connects is
the channel table's, :func:`inspector.channels.channel_ends`), its Prometheus
port, whether it sends heartbeats (and how soon its silence counts), whether it is off the decision's path,
when it starts and stops, and what its being down means for the operator.

The supervisor, the channels, the keys, the metrics, the alarm board and the
CLI read it; nothing else lists the services. :data:`PROCESSES` is in start
order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from inspector.config.schema import Config


def _always(config: Config) -> bool:
    return True


def _never(config: Config) -> bool:
    return False


def host_port(address: str, default_port: int) -> tuple[str, int]:
    """``host[:port]`` as (host, port); the host defaults to loopback."""
    host, _, port = address.rpartition(":") if ":" in address else (address, "", str(default_port))
    return host or "127.0.0.1", int(port)


@dataclass(frozen=True)
class StationProcess:
    """One kind of process of the station (its instances are named ``name:instance``)."""

    name: str
    down_means: str  # what the operator is told while it is down (the supervisor's service_down alarm)
    service: str | None = None  # a service of the line: its class ("module:Class"), run by 'inspector service NAME'
    command: tuple[str, ...] | None = ()  # else: the 'inspector' command's words ('--config FILE' follows); None: cpppo's
    identity: str | None = None  # the line key it holds (inspector.line_keys); None: it has no end of any channel
    optional_key: bool = False  # its key is needed only while it runs (a station installed before it existed has none)
    instances: Callable[[Config], list[str]] | None = None  # several of it: their instance names; None: one
    instance_option: str = ""  # the option of 'inspector service NAME' that names its instance
    metrics_offset: int | None = None  # its /metrics port: plant.metrics.base_port + this (+ the instance's position)
    heartbeats: bool = True  # sends heartbeats (else: healthy while it runs, and listens where 'listens' says)
    tight_watchdog: Callable[[Config], float] | None = None  # restarted after this much silence (else heartbeat_timeout_s)
    listens: Callable[[Config], tuple[str, int]] | None = None  # without heartbeats: it serves again once this accepts
    off_path: bool = False  # off the decision's path (plant outputs, reports, the HMI): a lower CPU priority
    runs: Callable[[Config], bool] = _always  # whether this station runs it
    run_elsewhere: Callable[[Config], bool] = _never  # its own unit runs it; the supervisor only watches its heartbeats
    supervised: bool = True  # False: the supervisor itself
    await_ready: bool = False  # the processes after it start only once it listens (the PLC the actuator connects to)
    triggers_parts: bool = False  # it starts parts: started once the rest is up, stopped first (parts in flight finish)
    stop_rank: int = 0  # the others stop in this order (lowest first), after the ones that trigger parts

    def instance_names(self, config: Config) -> list[str]:
        """The instances this station runs ('' for a process of which there is one)."""
        return self.instances(config) if self.instances is not None else [""]

    def process_name(self, instance: str = "") -> str:
        return f"{self.name}:{instance}" if instance else self.name

    def heartbeat_timeout_s(self, config: Config) -> float:
        """How long its heartbeats may stop before it is restarted (never longer than ``heartbeat_timeout_s``)."""
        general = config.supervisor.heartbeat_timeout_s
        return min(self.tight_watchdog(config), general) if self.tight_watchdog is not None else general

    def heartbeat_interval_s(self, config: Config) -> float:
        """How often it beats: ``heartbeat_interval_s``, or four times within a tighter watchdog."""
        return min(config.supervisor.heartbeat_interval_s, self.heartbeat_timeout_s(config) / 4)

    def loop_stall_allowance_s(self, config: Config) -> float:
        """How long its loop may stand before its heartbeats stop: a loop stuck for ``heartbeat_timeout_s`` in all
        is restarted, whatever its watchdog."""
        return max(0.0, config.supervisor.heartbeat_timeout_s - self.heartbeat_timeout_s(config))


PROCESSES: tuple[StationProcess, ...] = (
    StationProcess(
        "supervisor", "", identity="supervisor", metrics_offset=3, heartbeats=False, supervised=False,
    ),
    StationProcess(
        "plc-simulator", "Decisions cannot be written to the simulated PLC meanwhile.",
        command=None, heartbeats=False, listens=lambda c: host_port(c.plc.address.split("/")[0], 44818),
        runs=lambda c: c.plc.simulator, await_ready=True, stop_rank=8,
    ),
    StationProcess(
        "recorder", "Decisions are still written to the PLC and journaled; they are recorded once the recorder is back.",
        service="inspector.services.recorder:RecorderService", identity="recorder", metrics_offset=1, stop_rank=6,
    ),
    StationProcess(
        "actuator", "No decision reaches the PLC while it is down: the PLC's watchdog (heartbeat tag) must stop the line.",
        service="inspector.services.actuator:ActuatorService", identity="actuator", metrics_offset=0, stop_rank=5,
        tight_watchdog=lambda c: c.supervisor.actuator_heartbeat_timeout_s,  # it holds the parts in flight
    ),
    StationProcess(
        "detector", "Its parts are rejected fail-safe at their deadline meanwhile.",
        service="inspector.services.detector:DetectorService", identity="detector", metrics_offset=10, stop_rank=4,
        instances=lambda c: [str(i) for i in range(c.detector.instances)], instance_option="--instance",
    ),
    # off the line's path, started before the cameras so they see the first parts
    StationProcess(
        "shift-reports", "The line runs on; a shift report due meanwhile is written when it is back.",
        command=("report", "scheduler"), heartbeats=False, off_path=True, runs=lambda c: c.reports.at_shift_end,
        stop_rank=3,
    ),
    StationProcess(
        "opcua", "The line runs on; OPC UA clients reconnect when it is back.",
        command=("opcua", "serve"), identity="observer", heartbeats=False, off_path=True,
        listens=lambda c: host_port(urlsplit(c.opcua.endpoint).netloc, 4840), runs=lambda c: c.opcua.enabled, stop_rank=2,
    ),
    StationProcess(
        "publisher", "The line runs on; results wait in the database and are published to the plant when it is back.",
        service="inspector.services.publisher:PublisherService", identity="publisher", optional_key=True,
        metrics_offset=2, off_path=True, runs=lambda c: c.plant.mqtt.enabled, stop_rank=7,
    ),
    StationProcess(
        "camera", "No parts are inspected from this camera meanwhile.",
        service="inspector.services.camera:CameraService", identity="camera", metrics_offset=20,
        instances=lambda c: [cam.name for cam in c.cameras], instance_option="--camera", triggers_parts=True,
    ),
    # last: the line does not wait for the operator's screen
    StationProcess(
        "hmi", "The line runs on; the operator screen comes back by itself.",
        command=("hmi",), identity="observer", off_path=True, runs=lambda c: c.supervisor.hmi != "off",
        run_elsewhere=lambda c: c.supervisor.hmi == "watch", stop_rank=1,
    ),
)

BY_NAME: dict[str, StationProcess] = {p.name: p for p in PROCESSES}

SERVICES: tuple[StationProcess, ...] = tuple(p for p in PROCESSES if p.service is not None)
"""The line's services: each runs alone with ``inspector service NAME``."""

SERVICE_NAMES: tuple[str, ...] = tuple(p.name for p in SERVICES)

IDENTITIES: tuple[str, ...] = tuple(dict.fromkeys(p.identity for p in PROCESSES if p.identity is not None))
"""The station's line keys, one per identity (the HMI and the OPC UA server share the observer's)."""

OPTIONAL_IDENTITIES: tuple[str, ...] = tuple(
    i for i in IDENTITIES if all(p.optional_key for p in PROCESSES if p.identity == i)
)


def station_process(name: str) -> StationProcess:
    """The registry's entry of a process, by its name or an instance's (``camera:top``)."""
    try:
        return BY_NAME[name.split(":", 1)[0]]
    except KeyError:
        raise ValueError(f"unknown process {name!r} (known: {', '.join(BY_NAME)})") from None


def running(config: Config) -> list[tuple[StationProcess, str]]:
    """Every process this station runs, supervisor first, then in start order: (entry, instance)."""
    return [(p, instance) for p in PROCESSES if p.runs(config) for instance in p.instance_names(config)]


def port_offset(config: Config, name: str, instance: str = "") -> int:
    """A process's metrics port offset from ``plant.metrics.base_port``; ValueError if it serves no metrics.

    An instance's position is its place among the station's (cameras in 'cameras' order); an instance not among them
    (a detector run alone as ``--instance 5``) takes its number, or the first place."""
    entry = station_process(name)
    if entry.metrics_offset is None:
        raise ValueError(f"no metrics port for {name!r}")
    names = entry.instance_names(config)
    if instance in names:
        return entry.metrics_offset + names.index(instance)
    return entry.metrics_offset + (int(instance) if instance.isdigit() else 0)
