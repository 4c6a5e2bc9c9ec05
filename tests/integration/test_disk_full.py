"""A full disk under a running line: records kept, alarms raised, nothing lost once space returns.

The recorder's database and images live on a small real filesystem (a tmpfs mounted for the test); where the test
may not mount one, the recorder's process gets a file size limit instead (RLIMIT_FSIZE: its writes fail with EFBIG
as they fail with ENOSPC on a full disk). The actuator's journal stays on the ordinary disk, as on a station.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from inspector.line_runner import alarm_rows, part_rows, running_line
from inspector.records.station import StationDatabase
from inspector.records.store import IMAGE_NOT_STORED_DISK, IMAGE_REMOVED
from tests.helpers import wait_until
from tests.integration.line_peers import LinePeers
from tests.small_disk import SmallDisk, limit_file_size

pytestmark = pytest.mark.slow


def on_small_disk(config, disk: Path):
    rec = config.recorder
    return dataclasses.replace(config, recorder=dataclasses.replace(
        rec, database=str(disk / "inspector.db"), image_dir=str(disk / "images"),
        disk_space=dataclasses.replace(rec.disk_space, check_interval_s=0.5, warning_free_mb=6, warning_free_percent=0,
                                       critical_free_mb=3, critical_free_percent=0, clear_margin=0.2),
        retention=dataclasses.replace(rec.retention, batch=20),
    ))


def recorder_log(tmp_path: Path) -> str:
    try:
        return (tmp_path / "logs" / "recorder.log").read_text(errors="replace")
    except FileNotFoundError:
        return ""


def codes(config, active: bool) -> set[str]:
    return {a["code"] for a in alarm_rows(config) if bool(a["active"]) == active}


def test_a_full_disk_holds_the_records_raises_alarms_and_loses_nothing_once_space_returns(line_config, tmp_path):
    disk = SmallDisk(tmp_path / "small-disk", size_mb=20)
    config = on_small_disk(line_config(), disk.path)
    peers = LinePeers(config)
    try:
        with running_line(config, tmp_path, without=("camera:", "detector:")) as supervisor:
            recorder = supervisor.process("recorder")
            wait_until(lambda: recorder.last_beat and supervisor.process("actuator").last_beat, 60, "the line up")
            pid = recorder.process.pid
            peers.part(1, "REJECT")
            peers.part(2, "PASS")
            wait_until(lambda: len(part_rows(config)) == 2, 30, "parts 1 and 2 recorded")
            hmi = StationDatabase(config.recorder.database)  # people reviewed these two: their images are kept
            hmi.set_mark(hmi.part(("top", 1)), "true_defect", "operator")
            hmi.save_label(("top", 2), "good", [], "quality")
            hmi.close()
            sent = 2
            if disk.mounted:
                # images fill the disk to its warning limit: retention frees room, sampled passes first
                for part_id in range(3, 51):
                    peers.part(part_id, "PASS" if part_id % 2 == 0 else "REJECT")
                    time.sleep(0.05)
                sent = 50
                wait_until(lambda: "alarm disk_space_low raised" in recorder_log(tmp_path), 30, "the low-space alarm")
                wait_until(lambda: len(part_rows(config)) == sent, 30, "every part recorded")
                # another program takes the rest of the disk: retention removes every image it may, then that
                # room is taken too
                disk.fill()
                wait_until(lambda: {p.name for p in disk.path.glob("images/top/*/*.png")} == {"0000000001.png", "0000000002.png"},
                           30, "every image but the reviewed ones removed")
                critical_before = recorder_log(tmp_path).count("alarm disk_space_critical raised")
                disk.fill()
                wait_until(lambda: recorder_log(tmp_path).count("alarm disk_space_critical raised") > critical_before, 30,
                           "the critical alarm")
            else:  # no tmpfs here (disk.why_not says why): the recorder's files are limited instead
                limit_file_size(pid, 4096)
            for part_id in range(sent + 1, sent + 21):
                peers.part(part_id, "REJECT")
            wait_until(lambda: recorder.counters.get("write_retries", 0) >= 2, 30, "the recorder retrying its writes")
            time.sleep(1.0)
            assert recorder.running and recorder.process.pid == pid and recorder.restarts == 0, "no crash, no restart"
            assert len(part_rows(config)) == sent, "nothing more could be written meanwhile"

            disk.give_back() if disk.mounted else limit_file_size(pid, None)
            rows = wait_until(lambda: len(part_rows(config)) == sent + 20 and part_rows(config), 30, "every part recorded")
            wait_until(lambda: "record_write_failed" in codes(config, active=False), 20, "the write alarm cleared")
            assert recorder.process.pid == pid and recorder.restarts == 0
        raised, cleared = codes(config, active=True), codes(config, active=False)
    finally:
        peers.close()
        disk.close()
    assert [r["part_id"] for r in rows] == list(range(1, sent + 21)), "every part once"
    assert {r["source"] for r in rows} == {"verdict"}
    assert "record_write_failed" in raised, "raised while full, recorded once there was room"
    by_part = {r["part_id"]: r for r in rows}
    if disk.mounted:
        assert {"disk_space_low", "disk_space_critical"} <= raised
        assert "disk_space_critical" in cleared, "cleared once space returned"
        assert all(by_part[p]["image_path"] for p in (1, 2)), "reviewed images kept"
        removed = [r for r in rows if r["image_note"] == IMAGE_REMOVED]
        assert {r["part_id"] for r in removed} == set(range(3, 51)) and all(r["image_path"] is None for r in removed)
        assert all(by_part[p]["image_note"] == IMAGE_NOT_STORED_DISK for p in range(51, 71)), "records, not images"
        assert all(by_part[p]["model_version"] and by_part[p]["detections"] for p in range(51, 71))
    else:
        assert "image_store_failed" in raised
