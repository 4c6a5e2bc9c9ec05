"""A process on the host without the station's keys cannot change what the line decides.

Each attack runs twice: with a plain ZeroMQ socket, and with a CURVE socket
holding a key pair of its own and the binder's public key (public keys are no
secret). The line runs as in production: real processes under the supervisor.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import zmq

from inspector.channels import CHANNELS, LineSockets
from inspector.channels import endpoint as channel_endpoint
from inspector.config import DEFAULT_CONFIG, load_config
from inspector.config.loader import config_from_dict
from inspector.errors import ConfigError, MessageError
from inspector.line_keys import init_keys, public_key
from inspector.line_runner import part_rows, running_line
from inspector.messages import Decision, Heartbeat, Verdict
from inspector.transport import send_message
from tests.helpers import PeerSockets, wait_until


class Intruder:
    """Sockets of a process without the station's keys, aimed at the line's channels."""

    def __init__(self, config) -> None:
        self.config = config
        self.ctx = zmq.Context()
        self.sockets: list[zmq.Socket] = []

    def open(self, channel: str, kind: int) -> list[zmq.Socket]:
        """A plain socket and one with its own CURVE key pair, both connected to ``channel``."""
        endpoint = channel_endpoint(self.config, channel)
        plain = self.ctx.socket(kind)
        own = self.ctx.socket(kind)
        own.curve_publickey, own.curve_secretkey = zmq.curve_keypair()
        own.curve_serverkey = public_key(Path(self.config.security.keys_dir), CHANNELS[channel].binder)
        for sock in (plain, own):
            sock.linger = 0
            sock.sndtimeo = 0
            sock.connect(endpoint)
            self.sockets.append(sock)
        return [plain, own]

    def close(self) -> None:
        for sock in self.sockets:
            sock.close(0)
        self.ctx.term()


def _keep_sending(stop: threading.Event, sockets: list[zmq.Socket], messages) -> None:
    while not stop.is_set():
        for message in messages():
            for sock in sockets:
                try:
                    send_message(sock, message)
                except zmq.ZMQError:
                    pass  # nobody accepts it: that is the point
        time.sleep(0.05)


def test_without_the_keys_no_process_can_pass_a_part_record_a_decision_or_read_frames(line_config, tmp_path):
    """No detector runs, so every part must be rejected fail-safe; an intruder sends PASS for every part."""
    parts = 12
    config = line_config(parts=parts, rate_hz=5, budget_ms=300)
    intruder = Intruder(config)
    verdicts = intruder.open("verdicts", zmq.PUSH)
    decisions = intruder.open("decisions", zmq.PUSH)
    frames = intruder.open("frames", zmq.PULL)
    stop = threading.Event()

    def forged():
        now = time.time()
        for part_id in range(1, parts + 1):
            yield Verdict("station-1", "top", part_id, part_id, "PASS", now, now, "intruder")
            yield Decision("station-1", "top", part_id, part_id, "PASS", "verdict", now, now, True)

    sender = threading.Thread(target=_keep_sending, args=(stop, verdicts + decisions, forged), daemon=True)
    sender.start()
    try:
        with running_line(config, tmp_path, without=("detector:",)):
            rows = wait_until(lambda: len(part_rows(config)) >= parts and part_rows(config), 90, f"{parts} decided parts")
            stolen = sum(1 for sock in frames for _ in iter(lambda s=sock: s.poll(0) and s.recv_multipart(), False))
    finally:
        stop.set()
        sender.join(5)
        intruder.close()
    assert [(r["result"], r["source"]) for r in rows] == [("FAILSAFE_REJECT", "deadline")] * parts
    assert stolen == 0


def test_forged_heartbeats_do_not_keep_a_frozen_detector_alive(line_config, tmp_path):
    config = line_config(parts=0)
    intruder = Intruder(config)
    beats = intruder.open("heartbeats", zmq.PUB)
    stop = threading.Event()
    with running_line(config, tmp_path) as supervisor:
        detector = supervisor.process("detector:0")
        wait_until(lambda: detector.last_beat, 60, "the detector's first heartbeat")
        pid = detector.process.pid
        seq = iter(range(10**9))
        sender = threading.Thread(
            target=_keep_sending,
            args=(stop, beats, lambda: [Heartbeat("detector:0", pid, next(seq), time.time())]),
            daemon=True,
        )
        sender.start()
        os.kill(pid, signal.SIGSTOP)  # frozen: only the intruder speaks for it now
        try:
            wait_until(lambda: detector.restarts >= 1, 30, "the supervisor to restart the silent detector")
        finally:
            stop.set()
            sender.join(5)
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
    intruder.close()
    assert detector.process.pid != pid


def test_a_service_key_is_admitted_only_on_the_channels_it_may_send_on(line_config):
    config = line_config()
    peers = PeerSockets(config)
    try:
        verdicts = peers.open("actuator", "verdicts")
        # the camera's key is real but the camera never sends verdicts: its connection is refused
        camera_key = LineSockets(config, "camera")
        sneaky = camera_key.ctx.socket(zmq.PUSH)
        own = camera_key._keys()
        sneaky.curve_publickey, sneaky.curve_secretkey = own.public, own.secret
        sneaky.curve_serverkey = public_key(Path(config.security.keys_dir), "actuator")
        sneaky.connect(channel_endpoint(config, "verdicts"))
        detector = peers.open("detector", "verdicts")
        now = time.time()
        send_message(sneaky, Verdict("station-1", "top", 1, 1, "PASS", now, now, "camera"))
        send_message(detector, Verdict("station-1", "top", 2, 2, "PASS", now, now, "v1"), block=True)
        assert verdicts.poll(5000)
        received = verdicts.recv_multipart()
        assert b'"part_id":2' in received[1]
        assert not verdicts.poll(500), "the camera's verdict was not admitted"
        assert peers.ends["actuator"].refused_connections >= 1
        sneaky.close(0)
        camera_key.close()
        camera_key.ctx.term()
    finally:
        peers.close()


def test_a_station_without_its_keys_names_the_command_that_makes_them(tmp_path):
    config = load_config(DEFAULT_CONFIG)
    config = dataclasses.replace(config, security=dataclasses.replace(config.security, keys_dir=str(tmp_path / "none")))
    with pytest.raises(MessageError, match="inspector keys init"):
        LineSockets(config, "detector").open("verdicts")


def test_keys_are_owner_only_and_never_overwritten(tmp_path):
    keys = tmp_path / "keys"
    made = init_keys(keys)
    assert set(made) == {"camera", "detector", "actuator", "recorder", "supervisor", "observer", "publisher"}
    secret = keys / "detector.key_secret"
    assert oct(secret.stat().st_mode & 0o777) == "0o600" and oct(keys.stat().st_mode & 0o777) == "0o700"
    before = secret.read_bytes()
    assert init_keys(keys) == [] and secret.read_bytes() == before


@pytest.mark.parametrize("endpoint", ["tcp://0.0.0.0:5555", "tcp://192.168.1.20:5555", "tcp://plc-cell.local:5555"])
def test_a_line_reachable_from_other_hosts_without_curve_is_refused(tmp_path, endpoint):
    data = {"cameras": [{"name": "top"}], "detector": {"model": "m.onnx"}, "security": {"curve": False},
            "transport": {"verdicts": endpoint}}
    with pytest.raises(ConfigError, match=r"transport\.verdicts.*security\.curve is off"):
        config_from_dict(data, tmp_path)
    data["security"]["curve"] = True
    assert config_from_dict(data, tmp_path).transport.verdicts == endpoint
    data["security"]["curve"] = False
    data["transport"]["verdicts"] = "tcp://127.0.0.1:5555"
    assert config_from_dict(data, tmp_path).security.curve is False
