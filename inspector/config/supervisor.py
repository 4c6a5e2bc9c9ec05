"""The ``supervisor`` and ``logs`` sections of the station config: heartbeats, restarts, the HMI's supervision, the processes' logs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from inspector.typed import spec

HmiSupervision = Literal["off", "run", "watch"]


@dataclass(frozen=True)
class SupervisorConfig:
    heartbeat_interval_s: float = spec(0.5, doc="How often each service sends a heartbeat.", minimum=0.05, maximum=10)
    heartbeat_timeout_s: float = spec(
        5.0, doc="A service silent this long is restarted; so is one whose loop has not turned for this long (its "
        "heartbeats, sent from a thread of their own, then stop).", minimum=0.5,
    )
    actuator_heartbeat_timeout_s: float = spec(
        3.0,
        doc="The actuator silent this long is restarted (frozen, stopped, dead): it holds the parts in flight and their "
        "deadlines, so its watchdog is tighter than the others' (never longer than heartbeat_timeout_s). It beats "
        "at least four times in this time from a thread of its own, so a long journal write does not silence it; a loop "
        "stuck for heartbeat_timeout_s still does.", minimum=0.3,
    )
    startup_grace_s: float = spec(30.0, doc="Time a starting service gets before its first heartbeat (model loading).", minimum=1)
    restart_backoff_initial_s: float = spec(0.5, doc="Wait before the first restart of a failed service.", minimum=0)
    restart_backoff_max_s: float = spec(10.0, doc="Longest wait between restarts (doubles each failure).", minimum=0)
    stop_timeout_s: float = spec(5.0, doc="Time a service gets to stop on SIGTERM before SIGKILL.", minimum=0.1)
    off_path_nice: int = spec(
        10,
        doc="CPU priority (nice) of the processes off the decision's path: the OPC UA server, the MQTT publisher, the "
        "shift reports and the HMI. On a machine with few cores their busy moments (an OPC UA server starting) then "
        "never cost a part its deadline (0 = the same priority as the line).", minimum=0, maximum=19,
    )
    hmi: HmiSupervision = spec(
        "off",
        doc="The operator HMI and the station. 'run': the supervisor runs it as one of the station's processes (needs a "
        "display: DISPLAY, or QT_QPA_PLATFORM, in the supervisor's environment), restarted when it dies or freezes. "
        "'watch': the HMI runs on its own (inspector-hmi.service restarts it); the supervisor watches its heartbeats. "
        "Either way a service_down alarm stands while it is down. 'off': not watched.",
    )


@dataclass(frozen=True)
class LogsConfig:
    max_mb: float = spec(
        10.0, doc="Each supervised process's log (<log dir>/<name>.log: its messages, and anything it writes to "
        "stdout/stderr) is rotated when it reaches this size, in MiB.", minimum=0.1, maximum=10000,
    )
    backups: int = spec(3, doc="Rotated logs kept per process (<name>.log.1 ... .N; 0 = the log is emptied when full).", minimum=0, maximum=100)
    repeats_per_minute: int = spec(
        20, doc="A message logged from the same place more often than this in a minute is suppressed; one line says "
        "how many were ('suppressed N similar messages').", minimum=1, maximum=100000,
    )
    max_message_chars: int = spec(
        2000, doc="A longer log message is cut to this many characters (a traceback to four times as many); values a "
        "service refuses are already cut to a few hundred.", minimum=200, maximum=1000000,
    )
