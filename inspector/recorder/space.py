"""Free space of every filesystem the station writes to, with a warning and a critical alarm on each.

The recorder owns these conditions: it fills the disk (images, records), so
it watches the filesystems holding the database, the image folder,
``station.state_dir`` (the actuator's journal) and the service logs, and
acts on what it measures: retention frees images while the images'
filesystem is low, and no image is stored while it is critical. A level has
two limits, MiB and a share of the filesystem (the larger applies); it is
raised below its limit and clears only once free space is ``clear_margin``
above it (at most 1 GiB above), so a disk hovering at the limit does not flap.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from inspector.alarms.owner import AlarmOwner
from inspector.config.schema import DiskSpaceLimits

log = logging.getLogger(__name__)

Level = Literal["ok", "low", "critical"]
MIB = 1024 * 1024
_ALARM = {"low": "disk_space_low", "critical": "disk_space_critical"}
_CONSEQUENCE = {
    "low": "retention removes old images, sampled passes first",
    "critical": "no image is stored until there is room again; every part is still recorded",
}


@dataclass(frozen=True)
class Usage:
    free: int  # bytes available to the station (not to root alone)
    total: int

    @property
    def percent_free(self) -> float:
        return 100.0 * self.free / self.total if self.total else 0.0


@dataclass
class Filesystem:
    """One filesystem and the station's folders on it."""

    mount: str
    roles: dict[str, str] = field(default_factory=dict)  # role (database, images, state, logs) -> path
    raised: set[str] = field(default_factory=set)  # levels raised: "low", "critical"
    usage: Usage | None = None

    @property
    def level(self) -> Level:
        return "critical" if "critical" in self.raised else "low" if "low" in self.raised else "ok"


def usage_of(path: Path) -> Usage:
    st = os.statvfs(existing(path))
    return Usage(st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize)


def existing(path: Path) -> Path:
    """``path``, or its nearest folder that exists (a folder not made yet lives on its parent's filesystem)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def mount_point(path: Path) -> str:
    path = existing(path).resolve()
    device = path.stat().st_dev
    while path != path.parent and path.parent.stat().st_dev == device:
        path = path.parent
    return str(path)


CLEAR_MARGIN_CAP = 1024**3  # the hysteresis never asks for more than 1 GiB above a limit (large disks, large limits)


def clears_at(limits: DiskSpaceLimits, limit: int) -> int:
    """The free space at which a raised alarm clears: ``clear_margin`` above its limit, at most 1 GiB above."""
    return limit + min(int(limit * limits.clear_margin), CLEAR_MARGIN_CAP)


def limit_bytes(limits: DiskSpaceLimits, level: str, total: int) -> int:
    """The free space below which ``level`` ("low", "critical") is raised on a filesystem of ``total`` bytes."""
    name = "warning" if level == "low" else "critical"
    mb, percent = getattr(limits, f"{name}_free_mb"), getattr(limits, f"{name}_free_percent")
    return int(max(mb * MIB, percent / 100.0 * total))


def _size(n: float) -> str:
    return f"{n / 1024**3:.1f} GiB" if n >= 1024**3 else f"{n / MIB:.0f} MiB"


class DiskWatch:
    """Measures each filesystem every ``limits.check_interval_s`` and raises or clears its alarms."""

    def __init__(self, limits: DiskSpaceLimits, paths: dict[str, Path], alarm: AlarmOwner) -> None:
        self.limits = limits
        self.alarm = alarm
        self.filesystems: dict[str, Filesystem] = {}
        self._role_fs: dict[str, Filesystem] = {}
        for role, path in paths.items():
            mount = mount_point(path)
            fs = self.filesystems.setdefault(mount, Filesystem(mount))
            fs.roles[role] = str(path)
            self._role_fs[role] = fs
        self._next_check = 0.0

    def level(self, role: str) -> Level:
        """The level last measured on the filesystem holding ``role`` ("ok" for a role not watched)."""
        fs = self._role_fs.get(role)
        return fs.level if fs is not None else "ok"

    def check(self, now: float, *, force: bool = False) -> None:
        """Measure every filesystem when due (or now, with ``force``); raise and clear alarms on changes."""
        if not force and now < self._next_check:
            return
        self._next_check = now + self.limits.check_interval_s
        for fs in self.filesystems.values():
            try:
                fs.usage = usage_of(Path(next(iter(fs.roles.values()))))
            except OSError as err:
                log.warning("cannot measure the free space of %s: %s", fs.mount, err)
                continue
            for level in ("low", "critical"):
                self._update(fs, level)

    def needs_room(self, role: str) -> bool:
        """Whether the filesystem holding ``role`` is, measured now, below where its warning would clear.

        Retention asks this before each batch, so it starts as soon as the disk is low (the alarm is raised
        then too, whatever the retention frees before the next periodic check) and stops once there is enough."""
        fs = self._role_fs.get(role)
        if fs is None or not (self.limits.warning_free_mb or self.limits.warning_free_percent):
            return False
        try:
            fs.usage = usage_of(Path(fs.roles[role]))
        except OSError:
            return False
        for level in ("low", "critical"):
            self._update(fs, level)
        return fs.level != "ok" and fs.usage.free < clears_at(self.limits, limit_bytes(self.limits, "low", fs.usage.total))

    def _update(self, fs: Filesystem, level: str) -> None:
        usage = fs.usage
        limit = limit_bytes(self.limits, level, usage.total)
        source = f"disk:{fs.mount}"
        if level not in fs.raised:
            if limit > 0 and usage.free < limit:
                fs.raised.add(level)
                self.alarm.raise_(
                    _ALARM[level],
                    f"{fs.mount} ({', '.join(fs.roles)}) has {_size(usage.free)} free ({usage.percent_free:.1f} %), below "
                    f"the {'warning' if level == 'low' else 'critical'} limit of {_size(limit)}: {_CONSEQUENCE[level]}",
                    source=source,
                )
        elif limit <= 0 or usage.free >= clears_at(self.limits, limit):
            fs.raised.discard(level)
            self.alarm.clear(_ALARM[level], f"{fs.mount} has {_size(usage.free)} free again ({usage.percent_free:.1f} %)",
                             source=source)
