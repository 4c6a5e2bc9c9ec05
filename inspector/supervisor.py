"""The supervisor: runs the line's services as child processes and keeps them up.

Each service is its own process (a camera SDK crash cannot take the actuator
down). A service is healthy while its process lives and its heartbeats keep
coming (from a thread of their own while its loop turns: a slow write does
not silence it); one that exits or falls silent (``heartbeat_timeout_s``;
the actuator, which holds the parts in flight, after
``actuator_heartbeat_timeout_s``) is killed and restarted, waiting
longer after each failure (doubling up to a maximum; a service that stays up
for a minute starts again from the shortest wait). On SIGTERM/SIGINT the
camera stops first, in-flight parts get one budget's time to be decided, then
the rest stop in order, each with SIGKILL as the last resort.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import zmq

from inspector.alarms.owner import AlarmOwner
from inspector.channels import LineSockets, loopback_tcp_channels, taken_endpoints
from inspector.config.schema import Config
from inspector.errors import EXIT_REFUSED, MessageError, ServiceError
from inspector.file_modes import create_private, private_folder, use_station_group
from inspector.line_keys import missing_keys
from inspector.messages import Heartbeat
from inspector.process_guard import StationProcesses, guarded
from inspector.netutil import accepts_connections
from inspector.socket_holders import endpoint_in_use
from inspector.service_registry import StationProcess, running
from inspector.service_logs import cap_at_spawn, child_log_env
from inspector.systemd_notify import SystemdNotifier
from inspector.transport import recv_message, send_message
from plc_io.simulator import simulator_command

log = logging.getLogger(__name__)

STABLE_AFTER_S = 60.0
UP_AFTER_S = 1.0  # a process without heartbeats or a port to ask counts as back after running this long
READY_WITHIN_S = 10.0  # a process the next ones wait for (the PLC simulator) must listen within this


@dataclass
class ManagedProcess:
    """One supervised child and its health bookkeeping."""

    name: str
    entry: StationProcess  # what it is (inspector.service_registry): its start and stop order, what its being down means
    command: list[str] | None  # None: not started here, only watched by its heartbeats (run by its own systemd unit)
    # without heartbeats: whether the process serves again (a port that accepts connections); None = running for UP_AFTER_S
    ready: Callable[[], bool] | None = None
    heartbeat_timeout_s: float = 5.0  # silent this long: restarted (the registry's, from the config: the actuator's is tighter)
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    last_beat: float = 0.0
    restarts: int = 0
    backoff_s: float = 0.0
    restart_at: float | None = None
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def sends_heartbeats(self) -> bool:
        return self.entry.heartbeats

    @property
    def off_path(self) -> bool:
        """Not on the decision's path (plant outputs, reports, the HMI): started at a lower CPU priority."""
        return self.entry.off_path

    @property
    def watched(self) -> bool:
        """Run elsewhere (its own systemd unit), only watched here."""
        return self.command is None

    def back(self, now: float) -> bool:
        """Whether the process is up and serving again (its 'service_down' alarm then clears)."""
        if not self.running:
            return False
        if self.sends_heartbeats:
            return self.last_beat > 0.0
        if self.ready is not None:
            return self.ready()
        return now - self.started_at >= UP_AFTER_S


def service_command(kind: str, config_path: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "inspector", "service", kind, "--config", str(config_path), *extra]


def process_command(entry: StationProcess, config: Config, config_path: Path, instance: str = "") -> list[str] | None:
    """The command line of one of the station's processes; None for one its own unit runs (only watched here)."""
    if entry.run_elsewhere(config):
        return None
    if entry.service is not None:
        return service_command(entry.name, config_path, *((entry.instance_option, instance) if instance else ()))
    if entry.command is None:  # the one program that is not Inspector's: cpppo's PLC simulator
        return simulator_command(config.plc)
    return [sys.executable, "-m", "inspector", *entry.command, "--config", str(config_path)]


def _listening(entry: StationProcess, config: Config) -> Callable[[], bool] | None:
    if entry.listens is None:
        return None
    host, port = entry.listens(config)
    return lambda: accepts_connections(host, port)


def line_processes(config: Config, config_path: Path) -> list[ManagedProcess]:
    """The processes of the line, in start order (inspector.service_registry)."""
    return [
        ManagedProcess(entry.process_name(instance), entry, process_command(entry, config, config_path, instance),
                       ready=_listening(entry, config), heartbeat_timeout_s=entry.heartbeat_timeout_s(config))
        for entry, instance in running(config) if entry.supervised
    ]


class Supervisor:
    def __init__(self, config: Config, config_path: Path, log_dir: Path) -> None:
        self.config = config
        self.sup = config.supervisor
        self.log_dir = log_dir
        use_station_group(config.station.file_group)  # logs owner-only, or readable by the station's file group
        self.processes = line_processes(config, config_path)
        self._stop = threading.Event()
        self.systemd = SystemdNotifier.from_environment()  # READY, WATCHDOG, STOPPING, STATUS under systemd; else no-op
        self.failed: BaseException | None = None  # why run() ended early (a start refused), for callers in other threads
        self.station_processes = StationProcesses(config.station.state_dir)
        other = self.station_processes.running_supervisor()
        if other:
            raise ServiceError(
                f"station {config.station.name!r} already runs under supervisor pid {other}; stop it first "
                f"(Ctrl-C in its terminal, or 'kill {other}')"
            )
        ended = self.station_processes.end_leftovers(self.sup.stop_timeout_s)
        if ended:
            log.warning("ended %d process(es) an earlier supervisor of this station left running: %s", len(ended), ", ".join(ended))
        self.ctx = zmq.Context()
        if config.security.curve:
            optional = tuple(p.entry.identity for p in self.processes if p.entry.optional_key and p.entry.identity)
            missing = missing_keys(Path(config.security.keys_dir), optional)
            if missing:
                raise ServiceError(
                    f"the station's line keys are missing in {config.security.keys_dir} ({', '.join(missing)}): "
                    f"make them once with 'inspector keys init --config {config_path}'"
                )
        self.metrics = None  # with plant.metrics on: the supervisor's endpoint (each process's health and restarts)
        self.sockets = LineSockets(config, "supervisor", self.ctx)
        self.heartbeats = self.sockets.open("heartbeats")
        self.alarms = self.sockets.open("alarms")  # to the actuator, which keeps the station's alarm board
        # 'service_down' of every process it runs: raised when one fails, cleared when it is back, restated each second
        self.alarm = AlarmOwner(config.station.name, "supervisor", lambda message: send_message(self.alarms, message))

    def process(self, name: str) -> ManagedProcess:
        return next(p for p in self.processes if p.name == name)

    def request_stop(self) -> None:
        self._stop.set()

    def start(self) -> None:
        """Start in order; cameras only once every other service is up, so no early part goes undecided.

        Raises ServiceError, naming the service and its error, when a port of the line is taken, a service
        refuses its configuration (exit code 2), or a service is not up within ``startup_grace_s``.
        """
        private_folder(self.log_dir)
        self._check_ports_free()
        if self.config.plant.metrics.enabled and self.metrics is None:
            from inspector.plant.metrics import MetricsEndpoint, SupervisedServices, metrics_port

            self.metrics = MetricsEndpoint(
                self.config, "supervisor", metrics_port(self.config, "supervisor"),
                SupervisedServices(self.config.station.name, lambda: self.processes, self.sup.heartbeat_timeout_s),
            )
        for proc in self.processes:
            if proc.watched:
                proc.started_at = time.monotonic()  # watched from now: its first heartbeat is due within the grace
                continue
            if proc.entry.triggers_parts:
                self._await_services_up()
            self._spawn(proc)
            if proc.entry.await_ready:
                self._await_ready(proc)

    def _await_ready(self, proc: ManagedProcess) -> None:
        """Wait until ``proc`` listens (the processes started after it connect to it at their start)."""
        deadline = time.monotonic() + READY_WITHIN_S
        while proc.ready is not None and not proc.ready():
            if time.monotonic() > deadline:
                raise ServiceError(f"{proc.name} did not start listening within {READY_WITHIN_S:.0f}s")
            time.sleep(0.05)

    def _check_ports_free(self) -> None:
        started = {p.name for p in self.processes}
        binders = {p.entry.identity for p in self.processes}
        on_loopback = loopback_tcp_channels(self.config)
        if on_loopback:
            log.warning("transport: %s on loopback TCP ports, which any local user can connect to, or take while its "
                        "service restarts; set them to null (socket files in the owner-only transport.ipc_dir) unless "
                        "they cross hosts", ", ".join(on_loopback))
        for channel, where, holder in taken_endpoints(self.config, binders):
            raise ServiceError(
                f"transport.{channel}: {where} is already in use ({holder}); another line of this station "
                "may still be running, or another program holds it: stop it or choose another endpoint"
            )
        if self.config.plant.metrics.enabled:
            from inspector.plant.metrics import all_metrics_ports

            for name, port in all_metrics_ports(self.config).items():
                if name not in started:
                    continue
                holder = endpoint_in_use(f"tcp://{self.config.plant.metrics.host}:{port}")
                if holder:
                    raise ServiceError(
                        f"plant.metrics.base_port: port {port} (the {name} metrics endpoint) is already in use ({holder}); "
                        "choose another base_port"
                    )
        if any(p.name == "plc-simulator" for p in self.processes):
            holder = endpoint_in_use(f"tcp://{self.config.plc.address}")
            if holder:
                raise ServiceError(f"plc.address: {self.config.plc.address} (the PLC simulator's) is already in use ({holder})")

    def _await_services_up(self) -> None:
        deadline = time.monotonic() + self.sup.startup_grace_s
        while True:
            waiting = [
                p for p in self.processes
                if p.process is not None and p.sends_heartbeats and not (p.running and p.last_beat)
            ]
            if not waiting:
                return
            refused = [p for p in waiting if not p.running and p.process.returncode == EXIT_REFUSED]
            if refused or time.monotonic() > deadline:
                problems = "; ".join(
                    f"{p.name}: {self._last_error(p) or ('not up within %.0fs' % self.sup.startup_grace_s)}"
                    for p in (refused or waiting)
                )
                raise ServiceError(f"the line did not start, no camera was started: {problems}")
            self.check(0.1)  # heartbeats in, and a service that crashed is restarted with back-off

    def run(self, until: threading.Event | None = None) -> None:
        """Start everything, supervise until a signal or ``until`` is set, stop cleanly."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.request_stop())
        try:
            self.systemd.status("starting the line")
            self.start()
            self.systemd.ready(self.status_text())
            while not self._stop.is_set() and not (until is not None and until.is_set()):
                self.check(timeout_s=0.2)
                self.systemd.watchdog()  # only while this loop turns: a frozen supervisor is restarted by systemd
                self.systemd.status(self.status_text())
        except BaseException as err:
            self.failed = err
            raise
        finally:
            self.shutdown()

    def status_text(self) -> str:
        """One line on the line's processes (systemd's STATUS, shown by 'systemctl status')."""
        down = [p.name for p in self.processes if p.process is not None and (p.restart_at is not None or not p.running)]
        restarts = sum(p.restarts for p in self.processes)
        running = sum(p.running for p in self.processes)
        return (f"line up: {running} of {len(self.processes)} processes running"
                + (f"; down: {', '.join(down)}" if down else "") + (f"; {restarts} restart(s)" if restarts else ""))

    def check(self, timeout_s: float) -> None:
        """Take heartbeats for up to ``timeout_s``, then restart whatever is dead or silent, clear what is back."""
        self._take_heartbeats(timeout_s)
        now = time.monotonic()
        for proc in self.processes:
            if proc.watched:
                self._watch(proc, now)
                continue
            if proc.process is None:
                continue  # not started yet (cameras wait for the rest)
            if proc.restart_at is not None:
                if now >= proc.restart_at:
                    self._spawn(proc)
                continue
            problem = self._health_problem(proc, now)
            if problem:
                self._schedule_restart(proc, problem, now)
            elif self.alarm.is_raised("service_down", source=proc.name) and proc.back(now):
                self.alarm.clear("service_down", f"{proc.name} is running again after {proc.restarts} restart(s)",
                                 source=proc.name)
        self.alarm.restate(now)

    def _watch(self, proc: ManagedProcess, now: float) -> None:
        """A process run by its own unit (the HMI's): an alarm while its heartbeats stop, cleared by the next one."""
        if not proc.started_at:
            return
        grace = proc.heartbeat_timeout_s if proc.last_beat else self.sup.startup_grace_s
        silent_s = now - (proc.last_beat or proc.started_at)
        if silent_s > grace:
            how = f"silent for {silent_s:.0f}s" if proc.last_beat else "none since the line started"
            self.alarm.raise_("service_down", f"{proc.name} sends no heartbeat ({how}); its own unit restarts it. "
                              f"{proc.entry.down_means}".strip(), source=proc.name)
        elif proc.last_beat and self.alarm.is_raised("service_down", source=proc.name):
            self.alarm.clear("service_down", f"{proc.name} sends heartbeats again", source=proc.name)

    def _take_heartbeats(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            if not self.heartbeats.poll(remaining * 1000):
                return
            try:
                beat = recv_message(self.heartbeats)
            except MessageError as err:
                log.warning("malformed heartbeat: %s", err)
                continue
            if not isinstance(beat, Heartbeat):
                continue
            for proc in self.processes:
                ours = proc.command is None or (proc.running and proc.process.pid == beat.pid)
                if proc.name == beat.service and ours:
                    proc.last_beat = time.monotonic()
                    proc.counters = beat.counters

    def _health_problem(self, proc: ManagedProcess, now: float) -> str:
        if not proc.running:
            code = proc.process.returncode if proc.process else None
            return f"exited with code {code}"
        if not proc.sends_heartbeats:
            return ""
        if proc.last_beat == 0.0:
            if now - proc.started_at > self.sup.startup_grace_s:
                return f"no heartbeat within {self.sup.startup_grace_s:.0f}s of starting"
            return ""
        if now - proc.last_beat > proc.heartbeat_timeout_s:
            return f"silent for {now - proc.last_beat:.1f}s"
        return ""

    def _schedule_restart(self, proc: ManagedProcess, problem: str, now: float) -> None:
        self._terminate(proc, kill=True)
        if now - proc.started_at > STABLE_AFTER_S:
            proc.backoff_s = 0.0
        proc.backoff_s = min(
            max(proc.backoff_s * 2, self.sup.restart_backoff_initial_s), self.sup.restart_backoff_max_s
        )
        proc.restart_at = now + proc.backoff_s
        why = self._last_error(proc)
        log.error("%s %s%s; restarting in %.1fs", proc.name, problem, f" ({why})" if why else "", proc.backoff_s)
        self.alarm.raise_(
            "service_down",
            f"{proc.name} {problem}{f' ({why})' if why else ''}; restarting in {proc.backoff_s:.1f}s "
            f"(restart {proc.restarts + 1}). {proc.entry.down_means}".strip(),
            source=proc.name,
        )

    def _last_error(self, proc: ManagedProcess) -> str:
        """The last error line of the process's log (what it said when it failed), or ''."""
        try:
            with (self.log_dir / f"{proc.name.replace(':', '-')}.log").open("rb") as fh:
                fh.seek(0, 2)
                fh.seek(max(0, fh.tell() - 8192))
                lines = fh.read().decode(errors="replace").splitlines()
        except OSError:
            return ""
        errors = [line for line in lines if "error:" in line or " ERROR " in line]
        if not errors:
            return ""
        line = errors[-1]
        return line.split("error: ", 1)[1] if "error: " in line else line

    def _spawn(self, proc: ManagedProcess) -> None:
        log_path = self.log_dir / f"{proc.name.replace(':', '-')}.log"
        cap_at_spawn(self.config.logs, log_path)  # the child rotates its log itself (inspector.service_logs)
        logfile = os.fdopen(create_private(log_path, append=True), "ab")  # a log an older version left open is closed
        # its own process group (the terminal's Ctrl-C reaches the supervisor, which stops the line in order),
        # and tied to this process: it gets SIGTERM if the supervisor dies
        proc.process = subprocess.Popen(
            guarded(proc.command), stdout=logfile, stderr=subprocess.STDOUT, process_group=0,
            env=child_log_env(self.config.logs, log_path),
        )
        self.station_processes.started(proc.name, proc.process.pid)
        logfile.close()  # the child holds its own descriptor
        if proc.off_path and self.sup.off_path_nice:
            self._lower_priority(proc)
        if proc.started_at:
            proc.restarts += 1
        proc.started_at = time.monotonic()
        proc.last_beat = 0.0
        proc.restart_at = None
        log.info("started %s (pid %d)", proc.name, proc.process.pid)

    def _lower_priority(self, proc: ManagedProcess) -> None:
        """A busy plant output (an OPC UA server starting: its certificates, its address space) must not take the
        CPU from the parts' deadlines: it runs at ``supervisor.off_path_nice`` (its threads, made later, inherit it)."""
        try:
            os.setpriority(os.PRIO_PROCESS, proc.process.pid, self.sup.off_path_nice)
        except OSError as err:  # it exited already; it is restarted as any other
            log.warning("cannot lower the CPU priority of %s: %s", proc.name, err)

    def _terminate(self, proc: ManagedProcess, kill: bool = False) -> None:
        if not proc.running:
            return
        if kill:
            proc.process.kill()
        else:
            proc.process.terminate()
        try:
            proc.process.wait(self.sup.stop_timeout_s)
        except subprocess.TimeoutExpired:
            log.error("%s did not stop within %.1fs; killing it", proc.name, self.sup.stop_timeout_s)
            proc.process.kill()
            proc.process.wait()

    def shutdown(self) -> None:
        """Cameras first, let in-flight parts be decided, then the rest in their stop order (inspector.service_registry)."""
        self.systemd.stopping("stopping the line: cameras first, then the other services in order")
        cameras = [p for p in self.processes if p.entry.triggers_parts]
        for proc in cameras:
            self._terminate(proc)
        if cameras:
            self._take_heartbeats(self.config.actuator.budget_ms / 1000 + 0.2)
        for proc in sorted((p for p in self.processes if not p.entry.triggers_parts), key=lambda p: p.entry.stop_rank):
            self._terminate(proc)
        self.heartbeats.close(0)
        self.alarms.close(linger=1000)
        self.sockets.close()
        self.ctx.term()
        self.station_processes.clear()
        if self.metrics is not None:
            self.metrics.close()
            self.metrics = None
        log.info("line stopped")
