"""The recorder's free-space watch, on the real filesystem of the test's folder (statvfs, no stand-in)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from inspector.alarms.owner import AlarmOwner
from inspector.config.schema import DiskSpaceLimits
from inspector.messages import Alarm
from inspector.recorder.space import MIB, DiskWatch, mount_point


def alarms_of(sent: list) -> list[tuple[str, bool, str]]:
    return [(m.code, m.active, m.source) for m in sent if isinstance(m, Alarm)]


def free_mib(path: Path) -> float:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize / MIB


def watch_of(tmp_path: Path, sent: list, **limits) -> DiskWatch:
    owner = AlarmOwner("station-1", "recorder", lambda m: sent.append(m) or True)
    folders = {"database": tmp_path / "db", "images": tmp_path / "images" / "not-made-yet", "state": tmp_path / "state"}
    (tmp_path / "db").mkdir()
    (tmp_path / "state").mkdir()
    return DiskWatch(DiskSpaceLimits(check_interval_s=0.5, warning_free_percent=0, critical_free_percent=0, **limits),
                     folders, owner)


def test_one_filesystem_holding_every_folder_is_watched_once_naming_what_it_holds(tmp_path):
    sent: list = []
    watch = watch_of(tmp_path, sent, warning_free_mb=0, critical_free_mb=0)
    (fs,) = watch.filesystems.values()
    assert fs.mount == mount_point(tmp_path)
    assert set(fs.roles) == {"database", "images", "state"}, "a folder not made yet counts on its parent's filesystem"


def test_below_the_warning_limit_raises_low_and_below_the_critical_one_raises_critical_too(tmp_path):
    sent: list = []
    free = free_mib(tmp_path)
    watch = watch_of(tmp_path, sent, warning_free_mb=free * 4, critical_free_mb=free / 4)
    watch.check(0.0)
    assert alarms_of(sent) == [("disk_space_low", True, f"disk:{mount_point(tmp_path)}")]
    assert watch.level("images") == "low"
    text = sent[0].text
    assert mount_point(tmp_path) in text and "free" in text and "warning limit" in text and "retention" in text

    watch.limits = dataclasses.replace(watch.limits, critical_free_mb=free * 2)
    watch.check(0.1)  # not due yet: nothing measured
    assert len(alarms_of(sent)) == 1
    watch.check(1.0)
    assert alarms_of(sent)[-1][:2] == ("disk_space_critical", True)
    assert watch.level("images") == "critical" and "no image is stored" in sent[-1].text


def test_an_alarm_clears_only_once_free_space_is_the_margin_above_its_limit(tmp_path):
    sent: list = []
    free = free_mib(tmp_path)
    watch = watch_of(tmp_path, sent, warning_free_mb=free * 2, critical_free_mb=0, clear_margin=0.5)
    watch.check(0.0)
    assert watch.level("database") == "low"
    # free space now above the limit but within the margin (limit * 1.5, at most 1 GiB above): still raised, no flapping
    watch.limits = dataclasses.replace(watch.limits, warning_free_mb=free - 512)
    watch.check(1.0)
    assert watch.level("database") == "low" and [c for c, *_ in alarms_of(sent)] == ["disk_space_low"]
    watch.limits = dataclasses.replace(watch.limits, warning_free_mb=free - 1536)
    watch.check(2.0)
    assert watch.level("database") == "ok"
    assert alarms_of(sent)[-1][:2] == ("disk_space_low", False)
    assert "free again" in sent[-1].text


def test_a_raised_alarm_is_restated_not_resent_while_the_free_space_changes(tmp_path):
    sent: list = []
    free = free_mib(tmp_path)
    watch = watch_of(tmp_path, sent, warning_free_mb=free * 4, critical_free_mb=0)
    for t in range(5):
        (tmp_path / "db" / f"f{t}").write_bytes(b"x" * 100_000)
        watch.check(float(t))
    assert [c for c, *_ in alarms_of(sent)] == ["disk_space_low"], "one raise, not one per measurement"
    assert watch.alarm.is_raised("disk_space_low", source=f"disk:{mount_point(tmp_path)}")


def test_retention_is_asked_to_free_room_until_the_warning_would_clear(tmp_path):
    sent: list = []
    free = free_mib(tmp_path)
    watch = watch_of(tmp_path, sent, warning_free_mb=free * 2, critical_free_mb=0, clear_margin=0.2)
    assert watch.needs_room("images")
    assert alarms_of(sent) == [("disk_space_low", True, f"disk:{mount_point(tmp_path)}")], "raised at once, not at the next check"
    watch.limits = dataclasses.replace(watch.limits, warning_free_mb=free - 512)
    assert watch.needs_room("images"), "raised, and not yet the margin (at most 1 GiB) above the limit"
    watch.limits = dataclasses.replace(watch.limits, warning_free_mb=free - 1536)
    assert not watch.needs_room("images") and watch.level("images") == "ok", "enough: retention stops, the alarm clears"
    watch.limits = dataclasses.replace(watch.limits, warning_free_mb=free - 512)
    assert not watch.needs_room("images"), "not raised and above the limit: nothing to free"
    assert not watch.needs_room("logs"), "a folder not watched never asks"


def test_limits_off_never_raise(tmp_path):
    sent: list = []
    watch = watch_of(tmp_path, sent, warning_free_mb=0, critical_free_mb=0)
    watch.check(0.0)
    assert sent == [] and watch.level("images") == "ok" and not watch.needs_room("images")


def test_the_larger_of_the_two_limits_applies_mib_or_a_share_of_the_filesystem(tmp_path):
    sent: list = []
    watch = watch_of(tmp_path, sent, warning_free_mb=1, critical_free_mb=0)
    watch.check(0.0)
    assert watch.level("state") == "ok"
    st = os.statvfs(tmp_path)
    percent_free = 100 * st.f_bavail / st.f_blocks
    watch.limits = dataclasses.replace(watch.limits, warning_free_percent=min(90.0, percent_free * 2))
    watch.check(1.0)
    assert watch.level("state") == "low"


def test_the_hysteresis_asks_for_at_most_a_gib_above_a_large_limit():
    from inspector.recorder.space import clears_at

    limits = DiskSpaceLimits(clear_margin=0.2)
    assert clears_at(limits, 100 * MIB) == 120 * MIB, "20 % above a small limit"
    assert clears_at(limits, 60 * 1024 * MIB) == 61 * 1024 * MIB, "1 GiB above a 60 GiB limit, not 12 GiB"
