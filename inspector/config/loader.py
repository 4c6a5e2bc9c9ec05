"""Load, validate and write station configs."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import yaml

from inspector.config.moved import move_old_settings
from inspector.config.models import is_package_pin, model_slot_names
from inspector.config.schema import Config
from inspector.config.shifts import check_reports_config, normalise_shifts
from inspector.config.transport import ENDPOINT_FIELDS
from inspector.errors import ConfigError
from inspector.file_modes import write_private
from inspector.typed import FieldProblem, from_dict, to_dict

DEFAULT_CONFIG = Path(__file__).with_name("default_station.yaml")


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read a station config file; raise :class:`ConfigError` naming any bad field."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError("", f"cannot read config file {path}: {err.strerror}") from err
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError("", f"{path} is not valid YAML: {err}") from err
    return config_from_dict(data if data is not None else {}, base_dir=path.resolve().parent, source=str(path))


def config_from_dict(data: Any, base_dir: Path, source: str = "station config") -> Config:
    """Validate a parsed config; relative paths are taken from ``base_dir``.

    Settings at a place they moved from still load (:mod:`inspector.config.moved`); ``source`` names the config
    in the warning that says so.
    """
    data = move_old_settings(data, source)
    try:
        config = from_dict(Config, data)
    except FieldProblem as err:
        raise ConfigError(err.path, err.problem) from err
    _check_cameras(config)
    _check_transport_security(config)
    config = dataclasses.replace(config, reports=normalise_shifts(config.reports))
    check_reports_config(config.reports)
    _check_opcua(config)
    _check_model_pins(config)
    _check_plant(config)
    _check_disk_space(config)
    config = _resolve_paths(config, base_dir)
    config.transport.endpoints(config.station.state_dir)  # an ipc path too long for a socket is refused now, by field
    return config


LOOPBACK_HOSTS = ("127.", "localhost", "[::1]", "::1")


def is_local_endpoint(endpoint: str) -> bool:
    """Whether a ZeroMQ endpoint stays on this host (loopback TCP, ipc, inproc)."""
    scheme, _, rest = endpoint.partition("://")
    if scheme in ("ipc", "inproc"):
        return True
    host = rest.rsplit(":", 1)[0]
    return any(host.startswith(prefix) for prefix in LOOPBACK_HOSTS)


def _check_transport_security(config: Config) -> None:
    if config.security.curve:
        return
    for name in ENDPOINT_FIELDS:
        endpoint = getattr(config.transport, name)
        if endpoint and not is_local_endpoint(endpoint):  # None: a socket file on this host (the default)
            raise ConfigError(
                f"transport.{name}",
                f"{endpoint} is reachable from other hosts, and security.curve is off: turn CURVE on "
                "(security.curve: true, after 'inspector keys init') or keep the line on loopback",
            )


def _check_opcua(config: Config) -> None:
    endpoint = config.opcua.endpoint
    if not endpoint.startswith("opc.tcp://") or ":" not in endpoint[len("opc.tcp://"):]:
        raise ConfigError("opcua.endpoint", f"expected opc.tcp://HOST:PORT/PATH, got {endpoint!r}")
    for name, model in config.opcua.recipes.items():
        if not name.strip():
            raise ConfigError("opcua.recipes", "a recipe name is empty")
        if not _recipe_model(model):
            raise ConfigError(f"opcua.recipes.{name}", "expected a registry package (name@version, or its package id: "
                              f"6 to 64 hex digits) or a model's .onnx file, got {model!r}")


def _check_model_pins(config: Config) -> None:
    slots = model_slot_names(len(config.detector.additional_models))
    for slot, ref in config.models.pins.items():
        if slot not in slots:
            raise ConfigError(f"models.pins.{slot}", f"no model slot {slot!r} on this station (slots: {', '.join(slots)})")
        if not is_package_pin(ref):
            raise ConfigError(f"models.pins.{slot}", "expected name@version or a package id (12 to 64 lower-case hex "
                              f"digits), got {ref!r}")


def _recipe_model(model: str) -> bool:
    """A recipe names a model file, a package label (name@version) or a package id (or a prefix of one)."""
    if model.endswith(".onnx"):
        return True
    name, at, version = model.partition("@")
    if at:
        return bool(name.strip() and version.strip())
    return 6 <= len(model) <= 64 and all(c in "0123456789abcdef" for c in model)


TOPIC_FORBIDDEN = ("/", "+", "#", "\0")


def _check_plant(config: Config) -> None:
    mqtt = config.plant.mqtt
    for f in dataclasses.fields(mqtt.topic):
        segment = getattr(mqtt.topic, f.name)
        if segment is None:
            continue
        if not segment or any(c in segment for c in TOPIC_FORBIDDEN):
            raise ConfigError(f"plant.mqtt.topic.{f.name}", f"{segment!r} is not one MQTT topic level (not empty; no '/', '+', '#')")
    if mqtt.password_file and not mqtt.username:
        raise ConfigError("plant.mqtt.password_file", "a password needs 'plant.mqtt.username'")
    if mqtt.tls is not None and bool(mqtt.tls.cert_file) != bool(mqtt.tls.key_file):
        raise ConfigError("plant.mqtt.tls", "a client certificate needs both 'cert_file' and 'key_file'")
    metrics = config.plant.metrics
    if bool(metrics.username) != bool(metrics.password_file):
        field = "password_file" if metrics.username else "username"
        raise ConfigError(f"plant.metrics.{field}", "basic authentication needs both 'username' and 'password_file'")


def _check_disk_space(config: Config) -> None:
    limits = config.recorder.disk_space
    for unit in ("mb", "percent"):
        warning, critical = getattr(limits, f"warning_free_{unit}"), getattr(limits, f"critical_free_{unit}")
        if warning and critical > warning:
            raise ConfigError(f"recorder.disk_space.critical_free_{unit}",
                              f"{critical:g} is above warning_free_{unit} ({warning:g}): the critical limit is the lower one")


def _check_cameras(config: Config) -> None:
    if not config.cameras:
        raise ConfigError("cameras", "at least one camera is required")
    seen: set[str] = set()
    for i, cam in enumerate(config.cameras):
        if cam.name in seen:
            raise ConfigError(f"cameras[{i}].name", f"duplicate camera name {cam.name!r}")
        seen.add(cam.name)
        if cam.driver == "folder" and not cam.folder:
            raise ConfigError(f"cameras[{i}].folder", "required when driver is 'folder'")
        if cam.driver == "genicam" and not cam.producer:
            raise ConfigError(f"cameras[{i}].producer", "required when driver is 'genicam' (the GenTL producer .cti file)")


def _resolve(base_dir: Path, value: str) -> str:
    path = Path(os.path.expandvars(os.path.expanduser(value)))
    return str(path if path.is_absolute() else (base_dir / path).resolve())


def _resolve_paths(config: Config, base_dir: Path) -> Config:
    cal = config.calibration
    calibration = dataclasses.replace(
        cal,
        folder=_resolve(base_dir, cal.folder) if cal.folder else None,
        audit_database=_resolve(base_dir, cal.audit_database) if cal.audit_database else None,
        challenge_parts=[dataclasses.replace(p, image=_resolve(base_dir, p.image)) for p in cal.challenge_parts],
    )
    cameras = [
        dataclasses.replace(
            c,
            folder=_resolve(base_dir, c.folder) if c.folder else None,
            producer=_resolve(base_dir, c.producer) if c.producer else None,
            emulator_images=_resolve(base_dir, c.emulator_images) if c.emulator_images else None,
            url=_resolve(base_dir, c.url) if c.url and "://" not in c.url else c.url,
        )
        for c in config.cameras
    ]
    return dataclasses.replace(
        config,
        station=dataclasses.replace(config.station, state_dir=_resolve(base_dir, config.station.state_dir)),
        security=dataclasses.replace(
            config.security,
            keys_dir=_resolve(base_dir, config.security.keys_dir) if config.security.keys_dir
            else str(Path(_resolve(base_dir, config.station.state_dir)) / "keys"),
        ),
        cameras=cameras,
        transport=dataclasses.replace(
            config.transport, ipc_dir=_resolve(base_dir, config.transport.ipc_dir) if config.transport.ipc_dir else None),
        detector=dataclasses.replace(
            config.detector,
            model=_resolve(base_dir, config.detector.model),
            trusted_keys=[_resolve(base_dir, k) for k in config.detector.trusted_keys],
            additional_models=[
                dataclasses.replace(m, model=_resolve(base_dir, m.model)) for m in config.detector.additional_models
            ],
        ),
        recorder=dataclasses.replace(
            config.recorder,
            database=_resolve(base_dir, config.recorder.database),
            image_dir=_resolve(base_dir, config.recorder.image_dir),
        ),
        calibration=calibration,
        reports=dataclasses.replace(
            config.reports,
            folder=_resolve(base_dir, config.reports.folder) if config.reports.folder
            else str(Path(_resolve(base_dir, config.recorder.database)).parent / "reports"),
        ),
        opcua=dataclasses.replace(
            config.opcua,
            folder=_resolve(base_dir, config.opcua.folder) if config.opcua.folder
            else str(Path(_resolve(base_dir, config.station.state_dir)) / "opcua"),
            recipes={name: _resolve(base_dir, model) if model.endswith(".onnx") else model
                     for name, model in config.opcua.recipes.items()},
        ),
        models=dataclasses.replace(config.models, folder=_resolve(base_dir, config.models.folder) if config.models.folder else None),
        plant=_resolve_plant(config, base_dir),
    )


def _resolve_plant(config: Config, base_dir: Path):
    mqtt = config.plant.mqtt
    tls = mqtt.tls
    if tls is not None:
        tls = dataclasses.replace(
            tls,
            ca_file=_resolve(base_dir, tls.ca_file),
            cert_file=_resolve(base_dir, tls.cert_file) if tls.cert_file else None,
            key_file=_resolve(base_dir, tls.key_file) if tls.key_file else None,
        )
    outbox = dataclasses.replace(mqtt.outbox, path=_resolve(base_dir, mqtt.outbox.path) if mqtt.outbox.path else None)
    mqtt = dataclasses.replace(
        mqtt, tls=tls, outbox=outbox, password_file=_resolve(base_dir, mqtt.password_file) if mqtt.password_file else None
    )
    metrics = config.plant.metrics
    if metrics.password_file:
        metrics = dataclasses.replace(metrics, password_file=_resolve(base_dir, metrics.password_file))
    return dataclasses.replace(config.plant, mqtt=mqtt, metrics=metrics)


def write_config(config: Config, path: Path) -> None:
    """Write ``config`` as YAML (paths already absolute) so child services can load it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, yaml.safe_dump(to_dict(config), sort_keys=False))  # owner-only (or station.file_group's)
