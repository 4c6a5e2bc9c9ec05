"""Image retention on a real store, real image files and the HMI's own marks and labels: images go, records stay."""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from inspector.alarms.owner import AlarmOwner
from inspector.config.schema import DiskSpaceLimits, ImageRetention as RetentionPolicy
from inspector.recorder.retention import DAY_S, ImageRetention
from inspector.recorder.space import MIB, DiskWatch
from inspector.records.station import StationDatabase
from inspector.records.store import IMAGE_FILE_MISSING, IMAGE_REMOVED, Store, verdict_columns
from tests.unit.factories import a_verdict

NOW = time.time()


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "inspector.db", tmp_path / "images")
    yield s
    s.close()


def stored_part(store: Store, part_id: int, result: str, age_days: float) -> Path:
    """A part recorded with its image, as the recorder stores an inspection record."""
    verdict = a_verdict(part_id=part_id, seq=part_id, result=result, t_verdict=NOW - age_days * DAY_S,
                        t_trigger=NOW - age_days * DAY_S)
    pixels = np.random.default_rng(part_id).integers(0, 255, (64, 64), dtype=np.uint8)
    path = store.save_image(verdict, pixels)
    store.record([{"camera": "top", "part_id": part_id, "image_path": path, "image_bytes": os.path.getsize(path),
                   **verdict_columns(verdict)}])
    store.record([{"camera": "top", "part_id": part_id, "result": result if result != "FAILSAFE" else "FAILSAFE_REJECT",
                   "source": "verdict", "t_trigger": NOW - age_days * DAY_S}])
    return Path(path)


def retention_of(store: Store, tmp_path: Path, *, low: bool = False, **policy) -> tuple[ImageRetention, Counter]:
    """Retention with the real free-space watch; ``low``: warning limit above the disk's free space (room wanted)."""
    st = os.statvfs(tmp_path)
    free_mb = st.f_bavail * st.f_frsize / MIB
    limits = DiskSpaceLimits(warning_free_mb=free_mb * 4 if low else 0, warning_free_percent=0, critical_free_mb=0,
                             critical_free_percent=0)
    watch = DiskWatch(limits, {"images": store.image_dir}, AlarmOwner("station-1", "recorder", lambda m: True))
    counters: Counter[str] = Counter()
    return ImageRetention(RetentionPolicy(**{"keep_passes_days": 0, "keep_rejects_days": 0, **policy}), watch,
                          lambda: store, counters), counters


def row(store: Store, part_id: int) -> dict:
    return store.parts.get(("top", part_id))


def test_passes_and_rejects_past_their_age_lose_their_images_and_keep_their_records(store, tmp_path):
    files = {1: stored_part(store, 1, "PASS", 10), 2: stored_part(store, 2, "PASS", 1),
             3: stored_part(store, 3, "REJECT", 100), 4: stored_part(store, 4, "REJECT", 10),
             5: stored_part(store, 5, "FAILSAFE", 100)}
    retention, counters = retention_of(store, tmp_path, keep_passes_days=7, keep_rejects_days=90)
    removed = sum(retention.tick(float(i), NOW) for i in range(0, 400, 60))
    assert removed == 3 and counters["images_removed"] == 3
    assert {p for p, f in files.items() if not f.exists()} == {1, 3, 5}
    for part_id in (1, 3, 5):
        r = row(store, part_id)
        assert (r["image_path"], r["image_bytes"], r["image_note"]) == (None, None, IMAGE_REMOVED)
        assert r["result"] and r["detections"], "the record stays whole"
    assert row(store, 2)["image_path"] == str(files[2]) and row(store, 4)["image_note"] is None


def test_beyond_the_size_limit_the_oldest_go_sampled_passes_first(store, tmp_path):
    files = {1: stored_part(store, 1, "REJECT", 5), 2: stored_part(store, 2, "PASS", 4), 3: stored_part(store, 3, "REJECT", 3),
             4: stored_part(store, 4, "PASS", 2), 5: stored_part(store, 5, "REJECT", 1)}
    size = files[1].stat().st_size
    retention, _ = retention_of(store, tmp_path, max_gb=2.5 * size / 1024**3, batch=10)
    retention.tick(0.0, NOW)
    assert {p for p, f in files.items() if not f.exists()} == {1, 2, 4}, "both passes, though rejects are older, then the oldest reject"
    newest_pass = stored_part(store, 6, "PASS", 0)
    retention.tick(1.0, NOW)
    assert newest_pass.exists(), "not due yet"
    retention.tick(100.0, NOW)
    assert not newest_pass.exists() and files[3].exists() and files[5].exists(), "a pass goes before any reject, even the newest"


def test_a_low_disk_removes_batch_after_batch_passes_first_and_never_a_reviewed_image(store, tmp_path):
    for part_id in range(1, 11):
        stored_part(store, part_id, "PASS" if part_id % 2 else "REJECT", 11 - part_id)
    hmi = StationDatabase(store.path)
    try:
        hmi.set_mark(hmi.part(("top", 2)), "false_reject", "operator")  # an operator's mark on a reject
        hmi.save_label(("top", 3), "good", [], "quality")  # a quality engineer's label on a pass
    finally:
        hmi.close()
    retention, _ = retention_of(store, tmp_path, low=True, batch=3, keep_passes_days=365, keep_rejects_days=365)
    order = []
    for step in range(6):
        retention.tick(float(step), NOW)
        order.append(sorted(r["part_id"] for r in store.parts.rows_where("image_note = ?", [IMAGE_REMOVED])))
    assert order[0] == [1, 5, 7], "the oldest passes first, the reviewed one (3) kept"
    assert order[1] == [1, 4, 5, 6, 7, 9], "the last pass, then the oldest rejects (2 is marked: kept)"
    assert order[-1] == [1, 4, 5, 6, 7, 8, 9, 10]
    assert {r["part_id"] for r in store.parts.rows_where("image_path IS NOT NULL")} == {2, 3}
    hmi = StationDatabase(store.path)
    try:
        part = hmi.part(("top", 4))
        assert part.image_path is None and part.image_note == "image removed by retention"
    finally:
        hmi.close()


def test_images_recorded_before_sizes_are_measured_and_a_vanished_file_is_marked_missing(store, tmp_path):
    files = {p: stored_part(store, p, "REJECT", 1) for p in (1, 2)}
    with store.db.conn:
        store.db.execute("UPDATE parts SET image_bytes = NULL")
    files[2].unlink()
    retention, _ = retention_of(store, tmp_path, max_gb=1)
    retention.tick(0.0, NOW)
    assert row(store, 1)["image_bytes"] == files[1].stat().st_size
    assert (row(store, 2)["image_path"], row(store, 2)["image_note"]) == (None, IMAGE_FILE_MISSING)


def test_retention_reads_the_stored_images_through_the_index(store):
    plan = " ".join(r[3] for r in store.db.execute(
        "EXPLAIN QUERY PLAN SELECT camera FROM parts p WHERE p.image_path IS NOT NULL AND p.verdict_result = 'PASS' "
        "AND p.t_verdict < 5 ORDER BY p.t_verdict LIMIT 10").fetchall())
    assert "parts_stored_images" in plan and "TEMP B-TREE" not in plan
