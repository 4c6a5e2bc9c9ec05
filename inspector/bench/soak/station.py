"""The whole station for a soak, and the plant around it, started, watched and stopped with deadlines.

Started in this order: the virtual display (Xvfb), the MQTT broker and the
soak's subscriber on it, the PLC (when the soak runs it), ``inspector run``
(the real supervisor, its real processes; the display in its environment),
then, once the line decides parts, the HMI, the OPC UA client and the
Prometheus scraper. A thread of observers reads the MQTT file, samples each
process's memory and the HMI's window, and takes screenshots. Everything is
stopped in reverse, each step on its own (one that fails does not keep the
others running).
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inspector.bench.soak.hmi_watch import HmiWatch
from inspector.bench.soak.observers import MetricsScraper, OpcUaWatch, scrape, total
from inspector.bench.soak.plant_side import ExternalPlc, MqttTap, TiedBroker
from inspector.bench.soak.procs import VirtualDisplay, pid_alive, rss_kb, soak_env, spawn, started_at, stop_process
from inspector.bench.soak.settings import SoakSettings
from inspector.bench.soak.soak_config import OPCUA_CLIENT, soak_config
from inspector.config import write_config
from inspector.errors import InspectorError
from inspector.line_keys import init_keys
from inspector.line_runner import decided_count
from inspector.plant.metrics import all_metrics_ports, metrics_port
from inspector.plant.namespace import topic_root
from inspector.process_guard import STATE_FILE, StationProcesses

log = logging.getLogger(__name__)

FIRST_PART_TIMEOUT_S = 300.0
LINE_STOP_TIMEOUT_S = 120.0
HMI_WINDOW_TITLE = "Inspector"


class SoakStation:
    def __init__(self, settings: SoakSettings, workdir: Path, progress: Callable[[str], None]) -> None:
        self.settings, self.workdir, self.progress = settings, workdir, progress
        self.stopping = threading.Event()  # Ctrl-C, or the line is gone
        self.display = VirtualDisplay(workdir / "xvfb.log")
        self.broker = TiedBroker(workdir / "mosquitto")
        self.data_dir = workdir / "line"
        self.log_dir = self.data_dir / "logs"
        self.config_file = self.data_dir / "station.yaml"
        self.config = None
        self.notes: dict[str, Any] = {}
        self.run: Any = None  # the `inspector run` process
        self.plc: ExternalPlc | None = None
        self.tap: MqttTap | None = None
        self.opcua: OpcUaWatch | None = None
        self.scraper: MetricsScraper | None = None
        self.hmi: HmiWatch | None = None
        self.findings: list[str] = []  # what went wrong with the station itself while the soak ran
        self.rss: dict[str, list[tuple[float, int, int]]] = {}  # name -> (t, pid, KiB)
        self.infra_rss: dict[str, list[tuple[float, int, int]]] = {}
        self.instances: dict[str, list[tuple[int, float]]] = {}  # supervisor child name -> (pid, wall-clock start) per run of it
        self.windows: list[tuple[float, bool]] = []  # (t, the HMI's window is on the display)
        self.screenshots: list[dict[str, Any]] = []
        self._observer = threading.Thread(target=self._observe, name="soak-observer", daemon=True)
        self._observer_stop = threading.Event()
        self._next_screenshot = 0.0

    # -- start ----------------------------------------------------------------------------
    def _demo_users(self) -> None:
        """The demo's users (operator 1111 ...), so the soak logs the operator in on the HMI the supervisor runs."""
        from calibration.station import open_audit_trail
        from hmi.users import UserDirectory, ensure_demo_users
        from inspector.records.station import StationDatabase

        db, audit = StationDatabase(self.config.recorder.database), open_audit_trail(self.config)
        try:
            ensure_demo_users(UserDirectory(db, audit), audit)
        finally:
            db.close()
            audit.close()

    def start(self) -> None:
        display = self.display.start()
        self.progress(f"Xvfb on display {display}")
        self.broker.start()
        self.progress(f"mosquitto on {self.broker.address}")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config, self.notes = soak_config(self.settings, self.data_dir, self.broker.port)
        init_keys(Path(self.config.security.keys_dir))
        from inspector.opcua.certs import init_certs

        init_certs(self.config, OPCUA_CLIENT)
        write_config(self.config, self.config_file)
        self._demo_users()
        self.tap = MqttTap(self.broker.port, topic_root(self.config) + "/#", self.workdir / "mqtt-tap.txt")
        self.tap.start()
        if self.settings.plc == "external":
            self.plc = ExternalPlc(self.config.plc, self.workdir / "plc.log")
            self.plc.start()
        self.run = spawn([sys.executable, "-m", "inspector", "run", "--config", str(self.config_file), "--log-dir", str(self.log_dir)],
                         self.workdir / "run.out", env=soak_env(DISPLAY=display))
        self.progress(f"inspector run (pid {self.run.pid}); config {self.config_file}")
        deadline = time.monotonic() + FIRST_PART_TIMEOUT_S
        while decided_count(self.config) == 0:
            if self.run.poll() is not None:
                raise InspectorError(f"inspector run exited with code {self.run.returncode} before the first part "
                                     f"(see {self.workdir / 'run.out'} and {self.log_dir})")
            if time.monotonic() > deadline or self.stopping.is_set():
                raise InspectorError(f"no part decided within {FIRST_PART_TIMEOUT_S:g} s (see {self.log_dir})")
            time.sleep(0.5)
        self.hmi = HmiWatch(self.config_file, self.log_dir, display, lambda: self.child_pid("hmi"), self.settings.hmi_restart_after_s)
        self.hmi.start()
        self.opcua = OpcUaWatch(self.config, OPCUA_CLIENT)
        self.opcua.start()
        self.scraper = MetricsScraper(self.config.plant.metrics.host, all_metrics_ports(self.config), self.pid_of,
                                      self.settings.scrape_every_s)
        self.scraper.start()
        self._next_screenshot = time.monotonic() + self.settings.screenshot_every_s
        self.note_instances()
        self._observer.start()

    # -- what runs ------------------------------------------------------------------------
    def _state(self) -> dict[str, list]:
        try:
            return json.loads((Path(self.config.station.state_dir) / STATE_FILE).read_text()).get("children", {})
        except (OSError, ValueError, AttributeError):
            return {}

    def children(self) -> dict[str, int]:
        """The supervisor's children now (name -> pid), from its state file."""
        return {name: entry[0] for name, entry in self._state().items()}

    def note_instances(self) -> None:
        """Each run of each child, with when it started (the cameras' part-seen numbers start again with each)."""
        for name, (pid, ticks) in self._state().items():
            runs = self.instances.setdefault(name, [])
            if not runs or runs[-1][0] != pid:
                runs.append((pid, started_at(ticks) or time.time()))

    def child_pid(self, prefix: str) -> int | None:
        return next((pid for name, pid in self.children().items() if name == prefix or name.startswith(prefix + ":")
                     or (prefix == "hmi" and name.startswith("hmi"))), None)

    def pid_of(self, name: str) -> int | None:
        if name == "supervisor":
            return self.run.pid if self.run is not None else None
        return self.children().get(name)

    def processes(self) -> dict[str, int]:
        """Every station process to watch: the supervisor, its children, the HMI, the soak's PLC."""
        found = {"supervisor": self.run.pid} if self.run is not None and self.run.poll() is None else {}
        found.update(self.children())
        if self.hmi is not None and not self.hmi.supervised and (pid := self.hmi.pid()):
            found["hmi"] = pid
        if self.plc is not None and self.plc.pid:
            found["plc (the soak's)"] = self.plc.pid
        return found

    def service_up(self, name: str) -> bool:
        """The supervisor's view: the process runs and (if it sends them) its heartbeats arrive."""
        try:
            samples = scrape(self.config.plant.metrics.host, metrics_port(self.config, "supervisor"), timeout_s=1.0)
        except (OSError, ValueError):
            return False
        return total(samples, "inspector_service_up", service=name) >= 1

    # -- waiting, with the main thread's duties done meanwhile ----------------------------------
    def idle(self, seconds: float) -> bool:
        """Wait ``seconds`` (False if the soak is stopping first); the HMI and the supervisor are watched meanwhile."""
        deadline = time.monotonic() + seconds
        while not self.stopping.is_set():
            self.watch()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            self.stopping.wait(min(0.2, remaining))
        return False

    def watch(self) -> None:
        self.note_instances()
        if self.hmi is not None:
            self.hmi.check(allow_restart=not self.stopping.is_set())
        if self.run is not None and self.run.poll() is not None and not self.stopping.is_set():
            self.findings.append(f"{time.strftime('%H:%M:%S')}: the supervisor (inspector run) exited with code "
                                 f"{self.run.returncode}; the soak stops")
            self.stopping.set()

    # -- the observer thread ----------------------------------------------------------------
    def _observe(self) -> None:
        s = self.settings
        next_tap = next_sample = 0.0
        while not self._observer_stop.wait(0.5):
            now = time.monotonic()
            try:
                if now >= next_tap:
                    next_tap = now + s.scrape_every_s
                    self.tap.read_new()
                if now >= next_sample:
                    next_sample = now + s.sample_every_s
                    self.sample()
                if now >= self._next_screenshot:
                    self._next_screenshot = now + s.screenshot_every_s
                    self.screenshot("periodic")
            except Exception as err:  # noqa: BLE001 - an observer's hiccup is noted, the soak goes on
                log.exception("soak observer")
                self.findings.append(f"observer error: {type(err).__name__}: {err}")

    def sample(self) -> None:
        t = time.time()
        for name, pid in self.processes().items():
            kb = rss_kb(pid)
            if kb is not None:
                self.rss.setdefault(name, []).append((t, pid, kb))
        infra = {"mosquitto": self.broker.process, "Xvfb": self.display.process, "mosquitto_sub": self.tap.process if self.tap else None}
        for name, process in infra.items():
            kb = rss_kb(process.pid) if process is not None else None
            if kb is not None:
                self.infra_rss.setdefault(name, []).append((t, process.pid, kb))
        self.windows.append((t, HMI_WINDOW_TITLE in self.display.windows()))

    def screenshot(self, why: str) -> None:
        t = time.time()
        folder = self.settings.out.with_name(self.settings.out.stem + "-screens")
        path = folder / time.strftime("%Y%m%d-%H%M%S.png", time.localtime(t))
        try:
            varied = self.display.screenshot(path)
        except Exception as err:  # noqa: BLE001 - xwd missing or the display gone: a finding, not a crash
            self.screenshots.append({"t": t, "why": why, "error": f"{type(err).__name__}: {err}"})
            return
        self.screenshots.append({"t": t, "why": why, "path": str(path), "non_background_share": varied})

    def log_size(self) -> dict[str, int]:
        files = [p for p in self.log_dir.rglob("*") if p.is_file()] if self.log_dir.exists() else []
        sizes = {str(p.relative_to(self.log_dir)): p.stat().st_size for p in files}
        return {"total": sum(sizes.values()), "largest": max(sizes.values(), default=0),
                "largest_file": max(sizes, key=sizes.get) if sizes else "", "files": len(sizes)}

    # -- stop -----------------------------------------------------------------------------
    def stop_line(self) -> None:
        """SIGTERM to the supervisor (it stops the line in order), SIGKILL after a deadline; then any leftovers."""
        if self.run is None:
            return
        if self.run.poll() is None:
            self.run.send_signal(signal.SIGTERM)
            try:
                self.run.wait(LINE_STOP_TIMEOUT_S)
            except Exception:  # noqa: BLE001 - TimeoutExpired: the supervisor hangs, a finding
                self.findings.append(f"inspector run did not stop within {LINE_STOP_TIMEOUT_S:g} s of SIGTERM: killed")
                stop_process(self.run, 1)
        if self.config is not None:
            ended = StationProcesses(self.config.station.state_dir).end_leftovers(10)
            if ended:
                self.findings.append(f"processes left running after the supervisor stopped: {', '.join(ended)}")

    def stop(self) -> None:
        steps: list[tuple[str, Callable[[], None]]] = [
            ("observers", lambda: (self._observer_stop.set(), self._observer.is_alive() and self._observer.join(30))),
            ("OPC UA client", lambda: self.opcua and self.opcua.stop()),
            ("metrics scraper", lambda: self.scraper and self.scraper.stop()),
            ("HMI", lambda: self.hmi and self.hmi.stop()),
            ("line", self.stop_line),
            ("MQTT subscriber", lambda: self.tap and self.tap.stop()),
            ("broker", self.broker.stop),
            ("PLC", lambda: self.plc and self.plc.stop()),
            ("Xvfb", self.display.stop),
        ]
        for name, step in steps:
            try:
                step()
            except Exception as err:  # noqa: BLE001 - every other step still runs
                log.exception("stopping the soak's %s", name)
                self.findings.append(f"stopping the {name} failed: {type(err).__name__}: {err}")

    def alive(self, pid: int | None) -> bool:
        return pid_alive(pid)
