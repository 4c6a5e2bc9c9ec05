"""The line's endpoints: socket files in an owner-only folder by default, and a bind that fails names who holds it.

Real sockets and real processes: a squatter is another process that binds the endpoint first (as another user
too, when the test runs as root)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import zmq

from inspector.channels import CHANNELS, LineSockets, endpoint, loopback_tcp_channels, taken_endpoints
from inspector.config import DEFAULT_CONFIG, load_config
from inspector.config.loader import config_from_dict
from inspector.config.transport import ENDPOINT_FIELDS, IPC_PATH_MAX
from inspector.errors import ConfigError, EndpointInUse
from inspector.line_keys import init_keys
from inspector.line_setup import local_line_config
from inspector.messages import PartSeen
from inspector.netutil import free_tcp_port
from inspector.socket_holders import endpoint_in_use
from inspector.transport import open_socket, recv_message, send_message
from tests.helpers import PeerSockets

NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: a squatter of another user")


@pytest.fixture
def config(tmp_path):
    config = local_line_config(load_config(DEFAULT_CONFIG), tmp_path / "line")
    init_keys(Path(config.security.keys_dir))
    return config


@pytest.fixture
def ctx():
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


SYSTEM_PYTHON = "/usr/bin/python3"  # runs as another user (the test's own may live in a home folder)


def squatter(code: str, user: int | None = None) -> subprocess.Popen:
    """Another process holding an endpoint: ``code`` binds it (``s``); it waits until killed."""
    if user is not None and not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip(f"no {SYSTEM_PYTHON} to run a squatter as another user")
    process = subprocess.Popen(
        [SYSTEM_PYTHON if user is not None else sys.executable, "-c", f"import socket, time\n{code}\nprint('ready', flush=True)\ntime.sleep(60)"],
        stdout=subprocess.PIPE, text=True, user=user,
    )
    assert process.stdout.readline().strip() == "ready"
    return process


def tcp_squatter(port: int, user: int | None = None) -> subprocess.Popen:
    return squatter("s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
                    f"s.bind(('127.0.0.1', {port})); s.listen()", user)


def unix_squatter(path: Path, user: int | None = None) -> subprocess.Popen:
    return squatter(f"s = socket.socket(socket.AF_UNIX); s.bind({str(path)!r}); s.listen()", user)


def ipc_path(where: str) -> Path:
    assert where.startswith("ipc://"), where
    return Path(where[len("ipc://"):])


# -- the default: socket files in an owner-only folder ------------------------------------------------


def test_the_shipped_station_talks_over_socket_files_in_its_state_folder():
    config = load_config(DEFAULT_CONFIG)
    folder = Path(config.station.state_dir) / "ipc"
    assert set(CHANNELS) == set(ENDPOINT_FIELDS), "one endpoint field per channel of the table"
    for name in CHANNELS:
        assert getattr(config.transport, name) is None
        assert endpoint(config, name) == f"ipc://{folder / name}"


def test_every_channel_binds_a_socket_file_in_an_owner_only_folder_and_carries_messages_over_curve(config):
    assert config.security.curve
    peers = PeerSockets(config)
    try:
        bound = {channel.name: peers.open(channel.binder, channel.name) for channel in CHANNELS.values()}
        folder = ipc_path(endpoint(config, "verdicts")).parent
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        for name in CHANNELS:
            assert stat.S_ISSOCK(os.lstat(folder / name).st_mode), name
        camera = peers.open("camera", "part_seen")
        part = PartSeen("station-1", "top", 7, 7, 1.0)
        send_message(camera, part, block=True)
        assert bound["part_seen"].poll(5000), "the part-seen event did not arrive over the socket file"
        assert recv_message(bound["part_seen"]) == part
    finally:
        peers.close()


def test_a_process_without_the_stations_keys_gets_nothing_through_the_socket_file(config, ctx):
    peers = PeerSockets(config)
    try:
        verdicts = peers.open("actuator", "verdicts")
        intruder = ctx.socket(zmq.PUSH)
        intruder.connect(endpoint(config, "verdicts"))
        try:
            intruder.send_multipart([b"verdict", b"{}"], flags=zmq.NOBLOCK)
        except zmq.Again:
            pass  # no peer: the CURVE handshake refused it
        assert not verdicts.poll(500)
        intruder.close(0)
    finally:
        peers.close()


def test_a_channel_set_to_tcp_stays_on_tcp(tmp_path):
    port = free_tcp_port()
    data = {"transport": {"verdicts": f"tcp://127.0.0.1:{port}"}}
    config = config_from_dict({**load_config_data(), **data}, tmp_path)
    assert endpoint(config, "verdicts") == f"tcp://127.0.0.1:{port}"
    assert endpoint(config, "decisions").startswith("ipc://")
    assert loopback_tcp_channels(config) == ["verdicts"], "the supervisor warns about it at start"


def load_config_data() -> dict:
    import yaml

    return yaml.safe_load(DEFAULT_CONFIG.read_text())


def test_a_socket_folder_too_long_for_a_socket_path_is_refused_at_load_naming_the_field(tmp_path):
    data = load_config_data()
    data["transport"]["ipc_dir"] = "/" + "d" * (IPC_PATH_MAX - 10)
    with pytest.raises(ConfigError, match=r"transport\.ipc_dir.*at most 107"):
        config_from_dict(data, tmp_path)


def test_a_state_folder_too_deep_for_socket_paths_gets_a_short_owner_only_folder(tmp_path, ctx):
    deep = tmp_path / ("d" * 60) / ("e" * 60) / "state"
    config = local_line_config(load_config(DEFAULT_CONFIG), tmp_path / "line")
    config = dataclasses.replace(config, station=dataclasses.replace(config.station, state_dir=str(deep)))
    init_keys(Path(config.security.keys_dir))
    where = endpoint(config, "alarm_commands")
    assert len(where) - len("ipc://") <= IPC_PATH_MAX
    assert where.startswith(f"ipc:///tmp/inspector-{os.geteuid()}-")
    sockets = LineSockets(config, "actuator", ctx)
    try:
        sock = sockets.open("alarm_commands")
        assert stat.S_IMODE(ipc_path(where).parent.stat().st_mode) == 0o700
        sock.close(0)
    finally:
        sockets.close()
        ipc_path(where).unlink(missing_ok=True)
        ipc_path(where).parent.rmdir()


# -- who holds it ------------------------------------------------------------------------------------


def test_a_tcp_port_taken_by_another_process_names_its_pid(ctx):
    port = free_tcp_port()
    holder = tcp_squatter(port)
    try:
        with pytest.raises(EndpointInUse) as refused:
            open_socket(ctx, "pull", f"tcp://127.0.0.1:{port}", bind=True)
        assert f"held by pid {holder.pid} (" in str(refused.value) and "Address already in use" in str(refused.value)
        assert [h.pid for h in refused.value.holders] == [holder.pid]
        assert f"pid {holder.pid}" in endpoint_in_use(f"tcp://127.0.0.1:{port}")  # the supervisor's check at start
    finally:
        holder.kill()
        holder.wait()


@as_root
def test_a_tcp_port_taken_by_another_user_names_the_user_and_pid(ctx):
    port = free_tcp_port()
    holder = tcp_squatter(port, user=NOBODY)
    try:
        with pytest.raises(EndpointInUse, match=rf"held by pid {holder.pid} \(.*\) of (user \w+ \(uid {NOBODY}\)|uid {NOBODY})"):
            open_socket(ctx, "pull", f"tcp://127.0.0.1:{port}", bind=True)
    finally:
        holder.kill()
        holder.wait()


def test_a_live_socket_file_is_refused_naming_its_holder_and_left_alone(config, ctx):
    path = ipc_path(endpoint(config, "decisions"))
    path.parent.mkdir(parents=True, mode=0o700)
    holder = unix_squatter(path)
    try:
        sockets = LineSockets(config, "recorder", ctx)
        with pytest.raises(EndpointInUse, match=rf"ipc://{path} is in use: held by pid {holder.pid} "):
            sockets.open("decisions")
        sockets.close()
        assert f"pid {holder.pid}" in endpoint_in_use(f"ipc://{path}")
        # the supervisor's check before it starts anything names it too
        assert [(c, w) for c, w, _ in taken_endpoints(config, {"recorder", "actuator"})] == [("decisions", f"ipc://{path}")]
        assert f"pid {holder.pid}" in taken_endpoints(config, {"recorder"})[0][2]
        with socket.socket(socket.AF_UNIX) as probe:
            probe.connect(str(path))  # still the holder's: not unlinked from under it, as ZeroMQ alone would
    finally:
        holder.kill()
        holder.wait()


def test_a_socket_file_left_by_a_killed_process_is_removed_and_bound(config, ctx):
    path = ipc_path(endpoint(config, "decisions"))
    path.parent.mkdir(parents=True, mode=0o700)
    holder = unix_squatter(path)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert stat.S_ISSOCK(os.lstat(path).st_mode), "the dead process's socket file is still there"
    assert endpoint_in_use(f"ipc://{path}") == ""
    peers = PeerSockets(config)
    try:
        decisions = peers.open("recorder", "decisions")
        actuator = peers.open("actuator", "decisions")
        part = PartSeen("station-1", "top", 1, 1, 1.0)
        send_message(actuator, part, block=True)
        assert decisions.poll(5000) and recv_message(decisions) == part
    finally:
        peers.close()


def test_a_file_that_is_not_a_socket_is_never_removed(config, ctx):
    path = ipc_path(endpoint(config, "decisions"))
    path.parent.mkdir(parents=True, mode=0o700)
    path.write_text("not a socket")
    sockets = LineSockets(config, "recorder", ctx)
    with pytest.raises(EndpointInUse, match="not a socket is in the way"):
        sockets.open("decisions")
    sockets.close()
    assert path.read_text() == "not a socket"


@as_root
def test_a_live_socket_of_another_user_is_refused_with_its_owner_named(ctx):
    # a configured ipc endpoint in a folder every user may write to (sticky, as /tmp itself)
    shared = Path(tempfile.mkdtemp(prefix="inspector-shared-", dir="/tmp"))
    os.chmod(shared, 0o1777)
    path = shared / "verdicts"
    holder = unix_squatter(path, user=NOBODY)
    try:
        with pytest.raises(EndpointInUse, match=rf"held by pid {holder.pid} \(.*\) of (user \w+ \(uid {NOBODY}\)|uid {NOBODY})"):
            open_socket(ctx, "pull", f"ipc://{path}", bind=True)
        assert os.lstat(path).st_uid == NOBODY, "the other user's socket file is left alone"
    finally:
        holder.kill()
        holder.wait()
        shutil.rmtree(shared)


@as_root
def test_a_socket_folder_of_another_user_is_refused_with_its_owner_named(config, ctx):
    folder = ipc_path(endpoint(config, "decisions")).parent
    folder.mkdir(parents=True, mode=0o700)
    os.chown(folder, NOBODY, NOBODY)
    sockets = LineSockets(config, "recorder", ctx)
    with pytest.raises(EndpointInUse, match=rf"socket folder {folder} belongs to (user \w+ \(uid {NOBODY}\)|uid {NOBODY})"):
        sockets.open("decisions")
    sockets.close()


def test_the_lines_socket_folder_is_made_owner_only(config, ctx):
    folder = ipc_path(endpoint(config, "decisions")).parent
    folder.mkdir(parents=True)
    os.chmod(folder, 0o755)
    sockets = LineSockets(config, "recorder", ctx)
    sock = sockets.open("decisions")
    sock.close(0)
    sockets.close()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
