"""The HMI's command line, its event feed on a real socket, and the Qt-free view-models."""

from __future__ import annotations

import subprocess
import sys


from calibration.station import open_audit_trail
from hmi.live import EventFeed
from hmi.users import UserDirectory
from inspector.cli import main
from inspector.config import write_config
from inspector.records.station import StationDatabase
from inspector.transport import send_message
from tests.helpers import PeerSockets, wait_until
from tests.hmi.conftest import a_decision


def test_view_models_and_the_cli_do_not_import_qt():
    code = "import sys, hmi.operator_vm, hmi.review_vm, hmi.context, hmi.cli, inspector.cli.demo; print('PySide6' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_add_user_stores_a_pin_hash_and_audits_it(line_config, tmp_path, capsys):
    config = line_config()
    station = tmp_path / "station.yaml"
    write_config(config, station)
    assert main(["hmi", "add-user", "--config", str(station), "--name", "maria", "--role", "quality", "--pin", "482913"]) == 0
    assert main(["hmi", "add-user", "--config", str(station), "--name", "maria", "--role", "operator", "--pin", "1234"]) == 2
    assert "exists already" in capsys.readouterr().err
    db = StationDatabase(config.recorder.database)
    try:
        with open_audit_trail(config) as audit:
            assert UserDirectory(db, audit).verify("maria", "482913").role == "quality"
    finally:
        db.close()
    with open_audit_trail(config) as audit:
        entry = audit.latest("user_add", "user:maria")
        assert entry.after == {"role": "quality"} and entry.user.startswith("cli:")
        assert "482913" not in repr(audit.entries())


def test_the_event_feed_never_waits_and_skips_malformed_messages(line_config):
    config = line_config()
    actuator = PeerSockets(config)
    pub = actuator.open("actuator", "events")  # the actuator's end, with its key
    feed = EventFeed(config)
    try:
        assert feed.drain() == [], "nothing waiting: returns at once"
        received = []

        def got_one() -> bool:
            pub.send_multipart([b"decision", b"{not json"])
            send_message(pub, a_decision(5, "PASS"))
            received.extend(feed.drain())
            return bool(received)

        wait_until(got_one, 15, "a decision through the feed")
        assert received[0].part_id == 5 and feed.malformed >= 1
    finally:
        feed.close()
        actuator.close()
