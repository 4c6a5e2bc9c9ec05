"""Where an installed station keeps its config, state, records and logs, and the config it runs from.

The installed station runs from ``/etc/inspector/station.yaml``, a copy of the
plant's config with every path made absolute (a relative path means what it
meant beside the plant's file) and the station's storage placed in the
appliance's folders:

==============================  ==========================================
``/etc/inspector/``             ``station.yaml``, ``hmi.env`` (root's; readable)
``/var/lib/inspector/state``    ``station.state_dir``: counters, journal, keys, registry
``/var/lib/inspector/data``     ``recorder.database`` (and audit trail, reports, calibration beside it), ``images/``
``/var/log/inspector``          the services' logs
==============================  ==========================================

A storage path the plant set to a folder of its own (a data disk: an absolute
path outside home folders and temporary folders) is kept; one left at its
default, relative to a home folder or under ``/tmp`` is placed in the
appliance's folders. The units hide home folders and give the station its own
``/tmp``, so a file the station reads (model, keys, certificates) may not lie
there: such a config is refused, naming the field.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from inspector.config.loader import config_from_dict, load_config
from inspector.config.moved import setting_at
from inspector.config.schema import Config
from inspector.config.transport import ENDPOINT_FIELDS
from inspector.errors import ConfigError
from inspector.typed import to_dict

CONFIG_DIR = PurePosixPath("/etc/inspector")
STATE_ROOT = PurePosixPath("/var/lib/inspector")  # the units' StateDirectory=inspector, and the user's home
LOG_DIR = PurePosixPath("/var/log/inspector")  # the units' LogsDirectory=inspector
UNIT_DIR = PurePosixPath("/etc/systemd/system")
SYSUSERS_FILE = PurePosixPath("/etc/sysusers.d/inspector.conf")
STATION_CONFIG = CONFIG_DIR / "station.yaml"
HMI_ENV = CONFIG_DIR / "hmi.env"

# folders a service cannot see or share under the units' ProtectHome=yes and PrivateTmp=yes
HIDDEN_FOLDERS = ("/home", "/root", "/run/user", "/tmp", "/var/tmp")

# what the station writes: (field, where the appliance puts it; None = follow state_dir or database, as the loader does)
STORAGE_FIELDS: dict[str, str | None] = {
    "station.state_dir": str(STATE_ROOT / "state"),
    "recorder.database": str(STATE_ROOT / "data" / "inspector.db"),
    "recorder.image_dir": str(STATE_ROOT / "data" / "images"),
    "security.keys_dir": None,
    "reports.folder": None,
    "opcua.folder": None,
    "models.folder": None,
    "calibration.folder": None,
    "calibration.audit_database": None,
    "plant.mqtt.outbox.path": None,
}


def hidden(path: str) -> bool:
    """Whether the units hide ``path`` from the station (a home folder, a temporary folder)."""
    return any(path == top or path.startswith(top + "/") for top in HIDDEN_FOLDERS)


@dataclass(frozen=True)
class InstalledConfig:
    """The config the installed station runs from: its YAML text, its validated form, and what was moved where."""

    text: str
    config: Config
    moved: list[str]  # one line per storage path placed in the appliance's folders
    unchanged: bool = False  # the plant's file is the installed one: left as it is


def installed_config(source: Path, target: Path, *, hmi_unit: bool = False) -> InstalledConfig:
    """The installed form of the plant's config ``source``, to be written to ``target`` (validated; a bad field
    raises :class:`ConfigError`). When ``source`` is ``target`` (a re-install), the file is kept as it is.

    With ``hmi_unit`` (the HMI's own unit runs the panel), the station watches the HMI's heartbeats
    (``supervisor.hmi: watch``) unless the config says otherwise, so an HMI that is down raises an alarm."""
    loaded = load_config(source)  # every field checked, relative paths resolved beside the plant's file
    try:
        raw = yaml.safe_load(source.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:  # load_config read it a moment ago
        raise ConfigError("", f"cannot read config file {source}: {err}") from err
    data = _absolute(copy.deepcopy(raw), to_dict(loaded))
    moved = _place_storage(data)
    if hmi_unit and loaded.supervisor.hmi == "off":
        data.setdefault("supervisor", {})["hmi"] = "watch"
        moved.append("supervisor.hmi: watch (inspector-hmi.service runs the HMI; the station raises an alarm while it is down)")
    _check_visible(data)
    in_place = source.resolve() == target.resolve()
    if in_place and moved:
        raise ConfigError(moved[0].split(":", 1)[0], f"{source} is the installed config: edit it by hand ({moved[0]})")
    config = config_from_dict(data, base_dir=Path(CONFIG_DIR))
    _check_socket_folder(config)
    header = (
        f"# The installed station's config, written by 'inspector install' from {source.resolve()}.\n"
        "# Edit it here, then 'systemctl restart inspector-station' (and inspector-hmi). Every field and its\n"
        "# meaning: 'inspector config FILE' prints it resolved; docs/install.md says what the install did.\n"
    )
    text = source.read_text() if in_place else header + yaml.safe_dump(data, sort_keys=False)
    return InstalledConfig(text, config, moved, unchanged=in_place)


def _absolute(raw: Any, resolved: Any) -> Any:
    """``raw`` with each path the loader resolved (relative, ``~``, ``$VAR``) replaced by its absolute form."""
    if isinstance(raw, dict) and isinstance(resolved, dict):
        return {k: _absolute(v, resolved.get(k)) if k in resolved else v for k, v in raw.items()}
    if isinstance(raw, list) and isinstance(resolved, list) and len(raw) == len(resolved):
        return [_absolute(r, v) for r, v in zip(raw, resolved)]
    if isinstance(raw, str) and isinstance(resolved, str) and resolved != raw and resolved.startswith("/"):
        return resolved
    return raw


def _set(data: dict, dotted: str, value: str | None) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        if not isinstance(data.get(key), dict):
            if value is None:
                return
            data[key] = {}
        data = data[key]
    if value is None:
        data.pop(last, None)
    else:
        data[last] = value


def _place_storage(data: dict) -> list[str]:
    """Put the station's storage in the appliance's folders unless the plant gave it a folder of its own."""
    moved = []
    for field, place in STORAGE_FIELDS.items():
        value = setting_at(data, field, None)
        if value is not None and not hidden(value):
            continue  # the plant's own folder (a data disk)
        if value is None and place is None:
            continue  # follows state_dir or the database, as the loader derives it
        _set(data, field, place)
        if value is not None:
            moved.append(f"{field}: {value} is hidden from the service -> {place or 'its default beside the station state or database'}")
    return moved


def _check_visible(data: Any, field: str = "") -> None:
    """Refuse a path the station reads that the units hide from it, and an ipc endpoint in a private /tmp."""
    if isinstance(data, dict):
        for key, value in data.items():
            _check_visible(value, f"{field}.{key}" if field else str(key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            _check_visible(value, f"{field}[{i}]")
    elif isinstance(data, str):
        if data.startswith("/") and hidden(data) and field not in STORAGE_FIELDS:
            raise ConfigError(field, f"{data} is in a home or temporary folder, which the installed station cannot see "
                              "(ProtectHome, PrivateTmp): move it, for example under /var/lib/inspector or /opt")
        if data.startswith("ipc://") and hidden(data[len("ipc://"):]):
            raise ConfigError(field, f"{data}: the station's unit has its own /tmp, so the HMI could not reach it; "
                              "use tcp://127.0.0.1:PORT or an ipc path under /run")


def _check_socket_folder(config: Config) -> None:
    """The line's ipc socket folder must be one both units see (not the station unit's private /tmp)."""
    folder = str(config.transport.ipc_folder(config.station.state_dir))
    if hidden(folder) and any(not getattr(config.transport, name) for name in ENDPOINT_FIELDS):
        raise ConfigError("transport.ipc_dir", f"the line's socket folder would be {folder} (the state folder is too "
                          "deep for a socket path), which the units do not share (PrivateTmp): set a short folder, "
                          "for example /var/lib/inspector/ipc")


def writable_folders(config: Config, log_dir: PurePosixPath = LOG_DIR) -> list[str]:
    """Every folder the installed station writes to (the units' ReadWritePaths; the installer makes them)."""
    database = PurePosixPath(config.recorder.database)
    folders = [config.station.state_dir, config.security.keys_dir, str(database.parent), config.recorder.image_dir,
               config.reports.folder, config.opcua.folder, config.models.folder, config.calibration.folder,
               str(PurePosixPath(config.calibration.audit_database).parent) if config.calibration.audit_database else None,
               str(PurePosixPath(config.plant.mqtt.outbox.path).parent) if config.plant.mqtt.outbox.path else None,
               config.transport.ipc_dir, str(log_dir)]
    return list(dict.fromkeys(f for f in folders if f))


def top_most(folders: list[str]) -> list[str]:
    """``folders`` without those inside another of them."""
    return [f for f in folders if not any(f.startswith(other.rstrip("/") + "/") for other in folders if other != f)]


def outside_appliance(folders: list[str]) -> list[str]:
    """The folders not under the appliance's state or log folder (the plant's own), top-most only."""
    return top_most([f for f in folders if not any(f == str(top) or f.startswith(f"{top}/") for top in (STATE_ROOT, LOG_DIR))])


def under_root(root: Path | None, path: PurePosixPath | str) -> Path:
    """``path`` of the installed system, inside ``root`` when installing into a tree (image build, test)."""
    path = PurePosixPath(path)
    return Path(root, *path.parts[1:]) if root is not None else Path(path)


def read_paths(config: Config) -> list[tuple[str, str]]:
    """(field, path) of every file or folder the station reads (a model, keys, certificates): all but its storage."""
    found: list[tuple[str, str]] = []

    def walk(value: Any, field: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, f"{field}.{key}" if field else key)
        elif isinstance(value, list):
            for i, inner in enumerate(value):
                walk(inner, f"{field}[{i}]")
        elif isinstance(value, str) and value.startswith("/") and field not in STORAGE_FIELDS:
            found.append((field, value))

    walk(to_dict(config), "")
    return found
