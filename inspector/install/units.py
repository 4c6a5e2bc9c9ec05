"""The systemd units of an installed station, and the files beside them (user, HMI environment).

``inspector-station.service`` runs the supervisor (``inspector run``), which
starts, watches and stops the line's services itself; systemd watches the
supervisor (``Type=notify``: READY once the line is up, a watchdog ping from
its loop) and restarts it when it exits or freezes. ``inspector-hmi.service``
runs the operator HMI on the panel, watched the same way from its event loop.
Both run as the station's own user, with owner-only files (``UMask=0077``),
the file system read-only but for the station's folders, home folders hidden
and a private ``/tmp`` (not for the HMI: the X server's socket is there).
``/dev/shm``, where the camera hands frames to the detectors, stays shared
between the line's processes: they all run in the station's unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import PurePosixPath

from inspector.config.schema import Config
from inspector.install.layout import HMI_ENV, LOG_DIR, STATE_ROOT, STATION_CONFIG, outside_appliance, writable_folders
from inspector.service_registry import running

STATION_UNIT = "inspector-station.service"
HMI_UNIT = "inspector-hmi.service"
CACHE_DIR = PurePosixPath("/var/cache/inspector")  # TensorRT engines (rebuilt when missing)
HMI_WATCHDOG_S = 20  # a panel frozen longer than this is restarted
HMI_RESTART_S = 3


@dataclass(frozen=True)
class UnitUser:
    name: str
    group: str
    groups: tuple[str, ...] = ()  # supplementary: devices (video, render, input, dialout)


@dataclass(frozen=True)
class StationTimes:
    """The station unit's timeouts, from the supervisor's own (seconds)."""

    start_s: int  # ExecStartPre (keys) and the line's start, until READY
    stop_s: int  # the supervisor's ordered stop, before SIGKILL to what is left
    watchdog_s: int  # longest silence from the supervisor's loop


def station_times(config: Config) -> StationTimes:
    """Timeouts that never cut the supervisor short.

    Its ordered stop takes at most one ``stop_timeout_s`` per process (SIGTERM, wait, SIGKILL) plus one budget for
    parts in flight; a pass of its loop that restarts every process at once blocks about as long. The watchdog allows
    that and more, so only a supervisor that is really stuck is restarted."""
    processes = sum(1 for entry, _ in running(config) if entry.supervised)
    stop = processes * config.supervisor.stop_timeout_s + config.actuator.budget_ms / 1000 + 0.2
    return StationTimes(
        start_s=math.ceil(config.supervisor.startup_grace_s) + 60,
        stop_s=math.ceil(stop) + 15,
        watchdog_s=max(30, math.ceil(stop) + 10),
    )


def _arg(value: str) -> str:
    """One word of a unit file's command line or path list ('%' is a specifier; spaces need quotes)."""
    value = str(value).replace("%", "%%")
    if any(c.isspace() for c in value) or '"' in value or "\\" in value:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def _command(python: str, *args: str) -> str:
    return " ".join(_arg(a) for a in (python, "-m", "inspector", *args))


def _common(user: UnitUser, config: Config) -> list[str]:
    """What both units share: the user, owner-only files, the hardening the line allows."""
    extra = outside_appliance(writable_folders(config))
    lines = [f"User={user.name}", f"Group={user.group}"]
    if user.groups:
        lines.append("SupplementaryGroups=" + " ".join(user.groups))
    lines += [
        "UMask=0077",
        "StateDirectory=inspector",
        "StateDirectoryMode=0700",
        "WorkingDirectory=" + str(STATE_ROOT),
        "Environment=PYTHONUNBUFFERED=1",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
    ]
    if extra:  # the plant's own storage folders (a data disk); the appliance's are the State/LogsDirectory
        lines.append("ReadWritePaths=" + " ".join(_arg("-" + f) for f in extra))
    lines += [
        "ProtectHome=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
    ]
    return lines


HEADER = (
    "# Written by 'inspector install' (docs/install.md); the next install overwrites it.\n"
    "# Local changes go in a drop-in: systemctl edit {unit}\n"
)


def station_unit(config: Config, python: str, user: UnitUser) -> str:
    times = station_times(config)
    station_config = str(STATION_CONFIG)
    service = [
        "Type=notify",
        "NotifyAccess=main",
        *_common(user, config),
        "LogsDirectory=inspector",
        "LogsDirectoryMode=0700",
        "CacheDirectory=inspector",
        "CacheDirectoryMode=0700",
        f"Environment=XDG_CACHE_HOME={CACHE_DIR}",
        "# the line's keys, made once (only missing ones; never overwritten): an image's stations each make their own",
        "ExecStartPre=" + _command(python, "keys", "init", "--config", station_config),
        "ExecStart=" + _command(python, "run", "--config", station_config, "--log-dir", str(LOG_DIR)),
        "# the frame ring lives in /dev/shm, shared by the line's processes (all in this unit); no PrivateDevices:",
        "# cameras and GPUs are devices",
        "PrivateTmp=yes",
        "# SIGTERM to the supervisor alone: it stops the cameras, lets parts in flight be decided, then stops the rest",
        "# in order; whatever is left after TimeoutStopSec gets SIGKILL",
        "KillMode=mixed",
        f"TimeoutStartSec={times.start_s}",
        f"TimeoutStopSec={times.stop_s}",
        "# the supervisor pings from its loop (half this interval): a frozen supervisor is killed and restarted",
        f"WatchdogSec={times.watchdog_s}",
        "# always back: a stopped station needs a person at the line (a refused config repeats its error in the journal)",
        "Restart=always",
        "RestartSec=5",
        "SyslogIdentifier=inspector-station",
    ]
    return "\n".join([
        HEADER.format(unit=STATION_UNIT).rstrip("\n"),
        "[Unit]",
        f"Description=Inspector station {config.station.name}: the supervised line (camera, detector, actuator, recorder)",
        "Wants=network-online.target",
        "After=network-online.target time-sync.target",
        "StartLimitIntervalSec=0",
        "",
        "[Service]",
        *service,
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ])


def hmi_unit(config: Config, python: str, user: UnitUser) -> str:
    service = [
        "Type=notify",
        "NotifyAccess=main",
        *_common(user, config),
        "# DISPLAY and XAUTHORITY, or QT_QPA_PLATFORM=eglfs|linuxfb for a panel without a window system",
        f"EnvironmentFile=-{HMI_ENV}",
        "ExecStart=" + _command(python, "hmi", "--config", str(STATION_CONFIG), "--fullscreen"),
        "# the X server's socket is in /tmp/.X11-unix: the HMI shares the system's /tmp",
        "PrivateTmp=no",
        "TimeoutStartSec=60",
        "TimeoutStopSec=15",
        "# the HMI pings from its event loop (a quarter of this interval): a frozen screen is restarted",
        f"WatchdogSec={HMI_WATCHDOG_S}",
        "Restart=always",
        f"RestartSec={HMI_RESTART_S}",
        "SyslogIdentifier=inspector-hmi",
    ]
    return "\n".join([
        HEADER.format(unit=HMI_UNIT).rstrip("\n"),
        "[Unit]",
        f"Description=Inspector operator HMI of station {config.station.name} (touch panel)",
        f"After={STATION_UNIT} display-manager.service",
        "StartLimitIntervalSec=0",
        "",
        "[Service]",
        *service,
        "",
        "[Install]",
        "WantedBy=graphical.target",
        "",
    ])


def sysusers_conf(user: UnitUser) -> str:
    """systemd-sysusers' line for the station's user (an image's first boot creates it from this)."""
    return (
        "# Written by 'inspector install': the Inspector station's user (no login), home in its state folder\n"
        f'u {user.name} - "Inspector station" {STATE_ROOT} /usr/sbin/nologin\n'
    )


HMI_ENV_TEXT = """\
# Environment of inspector-hmi.service (docs/install.md, "The HMI on the panel").
# Written once by 'inspector install' and kept on re-install. After a change: systemctl restart inspector-hmi
#
# An X server on the panel's display (a kiosk session); let the station's user draw on it without a cookie:
#   xhost +SI:localuser:{user}      (in the session's startup, e.g. ~/.xsessionrc of the kiosk user)
DISPLAY=:0
# or a copy of the session's cookie the station's user can read (not in a home folder: the unit hides them):
# XAUTHORITY=/etc/inspector/hmi.Xauthority
#
# No window system: straight on the panel through KMS (needs --groups video,render,input at install)
# QT_QPA_PLATFORM=eglfs
# QT_QPA_PLATFORM=linuxfb
"""
