"""A service whose setup fails half way stops with that error, named, and tears down without a second one.

The chaos round saw a recorder whose port was taken raise a teardown ``AttributeError`` that hid the bind error
from the supervisor's alarm. Here each service's endpoints are taken by a real process before it starts (every
channel it binds), and every socket it opens fails in turn: the error that stops it is the one that happened,
naming the holder, and no teardown error follows it."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from inspector.channels import LineSockets, channel_ends, endpoint
from inspector.config import DEFAULT_CONFIG, load_config
from inspector.errors import EndpointInUse
from inspector.line_keys import init_keys
from inspector.line_setup import local_line_config
from inspector.services.actuator import ActuatorService
from inspector.services.camera import CameraService
from inspector.services.detector import DetectorService
from inspector.services.recorder import RecorderService

SERVICES = {"recorder": RecorderService, "actuator": ActuatorService, "camera": CameraService, "detector": DetectorService}
BOUND = [(kind, channel) for kind in SERVICES for channel, end in channel_ends(kind).items() if end == "binds"]
# the publisher opens no socket in its setup (its alarms' socket is opened at its first alarm)


@pytest.fixture
def config(tmp_path):
    config = local_line_config(load_config(DEFAULT_CONFIG), tmp_path / "line", simulate_plc=False)
    init_keys(Path(config.security.keys_dir))
    return config


def run_to_its_end(service, timeout_s: float = 30.0) -> BaseException | None:
    """Run the service in a thread; what stopped it (None: it stopped cleanly). A service still running after
    ``timeout_s`` is stopped and fails the test: it ran on past its failed setup."""
    stopped: list[BaseException | None] = []

    def run() -> None:
        try:
            service.run()
            stopped.append(None)
        except BaseException as err:  # noqa: BLE001 - the test looks at whatever it was
            stopped.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        service.stop()
        thread.join(30)
        pytest.fail(f"{service.name} ran on after its setup failed")
    return stopped[0]


def causes(err: BaseException | None) -> list[BaseException]:
    chain = []
    while err is not None:
        chain.append(err)
        err = err.__cause__ or err.__context__
    return chain


@pytest.mark.parametrize("kind, channel", BOUND, ids=[f"{k}-{c}" for k, c in BOUND])
def test_a_taken_endpoint_stops_the_service_with_the_holder_named_and_nothing_else(config, caplog, kind, channel):
    path = Path(endpoint(config, channel)[len("ipc://"):])
    path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", (
        f"import socket, time; s = socket.socket(socket.AF_UNIX); s.bind({str(path)!r}); s.listen(); "
        "print('ready', flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "ready"
    try:
        with caplog.at_level(logging.INFO):
            err = run_to_its_end(SERVICES[kind](config))
    finally:
        holder.kill()
        holder.wait()
    assert isinstance(err, EndpointInUse), f"{kind} stopped with {err!r}"
    assert f"ipc://{path} is in use: held by pid {holder.pid}" in str(err)
    assert not [e for e in causes(err) if isinstance(e, AttributeError)]
    assert "failed as well" not in caplog.text and "Traceback" not in caplog.text


def stopping_after_setup(kind: str):
    """The service, stopped as soon as its setup is done (its loop then ends at once and it tears down)."""
    class Stopping(SERVICES[kind]):
        def setup(self) -> None:
            super().setup()
            self.stop()

    return Stopping


@pytest.mark.parametrize("kind", list(SERVICES))
def test_a_setup_failing_at_any_socket_tears_down_without_a_second_error(config, caplog, monkeypatch, kind):
    opened: list[str] = []
    fail_at = [0]  # 0: none fails
    real_open = LineSockets.open

    def open_or_fail(self, channel_name, *args, **kwargs):
        opened.append(channel_name)
        if len(opened) == fail_at[0]:
            raise EndpointInUse(f"test: the {channel_name} endpoint is taken")
        return real_open(self, channel_name, *args, **kwargs)

    monkeypatch.setattr(LineSockets, "open", open_or_fail)
    assert run_to_its_end(stopping_after_setup(kind)(config)) is None
    sockets = list(opened)
    assert len(sockets) >= 2, sockets
    for k, channel in enumerate(sockets, start=1):
        opened.clear()
        fail_at[0] = k
        caplog.clear()
        with caplog.at_level(logging.INFO):
            err = run_to_its_end(stopping_after_setup(kind)(config))
        assert isinstance(err, EndpointInUse) and str(err) == f"test: the {channel} endpoint is taken", \
            f"{kind} failing at its socket {k} ({channel}) stopped with {err!r}"
        assert "failed as well" not in caplog.text and "Traceback" not in caplog.text, \
            f"{kind} failing at its socket {k} ({channel}): its teardown failed too"


class _BrokenTeardown(RecorderService):
    """A recorder whose setup fails and whose teardown then trips over what setup never made."""

    def setup(self) -> None:
        raise EndpointInUse("test: the decisions endpoint is taken")

    def teardown(self) -> None:
        self.poller.unregister(None)  # never made: AttributeError


def test_a_teardown_error_after_a_failed_setup_is_logged_and_the_setups_error_raised(config, caplog):
    with caplog.at_level(logging.ERROR):
        err = run_to_its_end(_BrokenTeardown(config))
    assert isinstance(err, EndpointInUse) and str(err) == "test: the decisions endpoint is taken"
    assert "tearing down after its failed setup failed as well" in caplog.text and "AttributeError" in caplog.text
