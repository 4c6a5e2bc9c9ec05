"""What the station writes is its user's only (or its file group's), whatever the umask of the shell that started it.

Every stored image, service log, copy of a model package and station config
used to be 0644 under a login shell's umask 022: readable by any local user.
"""

from __future__ import annotations

import dataclasses
import grp
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from inspector import file_modes
from inspector.config import DEFAULT_CONFIG, load_config, write_config
from inspector.errors import ConfigError
from inspector.line_setup import local_line_config
from inspector.model_trust import lkg_folder, save_last_known_good
from inspector.records.store import Store
from tests.unit.factories import a_verdict


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(autouse=True)
def login_shell_umask():
    """The umask of an integrator's shell, and owner-only modes again after each test."""
    old = os.umask(0o022)
    yield
    os.umask(old)
    file_modes.use_station_group(None)


def test_stored_images_and_their_folders_are_owner_only_and_an_open_image_folder_is_closed(tmp_path):
    images = tmp_path / "images"
    (images / "top").mkdir(parents=True, mode=0o755)  # left open by an older version
    os.chmod(images, 0o755)
    store = Store(tmp_path / "parts.db", images)
    try:
        path = Path(store.save_image(a_verdict(part_id=7, result="REJECT"), np.zeros((32, 32), np.uint8)))
    finally:
        store.close()
    assert path.is_file() and path.parent == images / "top" / "reject"
    assert mode(path) == 0o600
    assert mode(images) == mode(images / "top" / "reject") == 0o700
    assert mode(tmp_path / "parts.db") == 0o600


def test_the_station_config_written_for_the_stations_processes_is_owner_only(tmp_path):
    config = local_line_config(load_config(DEFAULT_CONFIG), tmp_path / "line")
    write_config(config, tmp_path / "station.yaml")
    assert mode(tmp_path / "station.yaml") == 0o600
    assert load_config(tmp_path / "station.yaml") == config


def test_last_known_good_model_copies_are_owner_only(tmp_path):
    config = local_line_config(load_config(DEFAULT_CONFIG), tmp_path / "line")
    model = Path(config.detector.model)
    assert mode(model) & 0o044, "the bundled package is readable by all: the copies must not inherit that"
    save_last_known_good(config, [model])
    folder = lkg_folder(config)
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"model.onnx", "model.json", "model.sig.json", "manifest.json"}
    assert {str(p.relative_to(folder)): mode(p) for p in files} == {str(p.relative_to(folder)): 0o600 for p in files}
    assert {mode(p) for p in [folder, *folder.rglob("*")] if p.is_dir()} == {0o700}


def test_a_log_an_older_version_left_open_is_closed_when_the_supervisor_opens_it_again(tmp_path):
    log = tmp_path / "logs" / "recorder.log"
    log.parent.mkdir(mode=0o755)
    log.write_text("an earlier run\n")
    os.chmod(log, 0o644)
    file_modes.private_folder(log.parent)
    with os.fdopen(file_modes.create_private(log, append=True), "ab") as fh:  # as Supervisor._spawn opens it
        fh.write(b"this run\n")
    assert mode(log) == 0o600 and mode(log.parent) == 0o700
    assert log.read_text() == "an earlier run\nthis run\n"


def test_with_a_file_group_what_the_station_writes_is_readable_by_that_group_only(tmp_path):
    group = grp.getgrgid(os.getgid()).gr_name  # a group this user is in
    config = local_line_config(load_config(DEFAULT_CONFIG), tmp_path / "line")
    config = dataclasses.replace(config, station=dataclasses.replace(config.station, file_group=group))
    assert load_config_roundtrip(config, tmp_path).station.file_group == group
    file_modes.use_station_group(config.station.file_group)  # as every service and the supervisor do at start
    store = Store(tmp_path / "parts.db", tmp_path / "images")
    try:
        path = Path(store.save_image(a_verdict(part_id=8), np.zeros((32, 32), np.uint8)))
    finally:
        store.close()
    assert mode(path) == 0o640 and os.stat(path).st_gid == os.getgid()
    assert stat.S_IMODE(os.stat(tmp_path / "images").st_mode) == 0o2750, "set-group-id: new files get the group"


def test_a_file_group_that_does_not_exist_is_refused_naming_the_field():
    with pytest.raises(ConfigError, match=r"station.file_group.*no group 'no-such-group-here'"):
        file_modes.use_station_group("no-such-group-here")


def load_config_roundtrip(config, tmp_path: Path):
    write_config(config, tmp_path / "grouped.yaml")
    return load_config(tmp_path / "grouped.yaml")
