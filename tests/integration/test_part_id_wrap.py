"""Part ids past the PLC's DINT: unique in the records, wrapped on the PLC's tag, no old row or image touched."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import pytest

from inspector.line_runner import part_rows, running_line
from inspector.messages import Decision
from inspector.records.store import Store, decision_row, inspection_row
from plc_io.logix import read_result_tags
from plc_io.tag_values import plc_part_id
from tests.helpers import wait_until
from tests.unit.factories import a_verdict

pytestmark = pytest.mark.slow

DINT_MAX = 2**31 - 1
PARTS = 40
FIRST = DINT_MAX - 14  # 15 parts below the DINT's end, 25 beyond it


def seed_old_parts(config, ids: range) -> dict[int, tuple[dict, str]]:
    """Parts recorded 50 days ago under the low ids a 32-bit counter would wrap onto: their rows and image hashes."""
    store = Store(config.recorder.database, config.recorder.image_dir)
    t_old = time.time() - 50 * 86400  # within the reject images' retention (90 days by default)
    try:
        for part_id in ids:
            verdict = a_verdict(part_id=part_id, t_trigger=t_old + part_id, t_verdict=t_old + part_id + 0.05)
            path = store.save_image(verdict, np.full((32, 32), part_id % 251, np.uint8))
            decision = Decision("station-1", "top", part_id, part_id, "REJECT", "verdict", verdict.t_trigger,
                                verdict.t_verdict, True, t_plc_written=verdict.t_verdict + 0.01, verdict=verdict, plc_seq=part_id)
            inspection = {**inspection_row(verdict, path), "image_bytes": Path(path).stat().st_size}  # as the recorder stores it
            assert len(store.record([decision_row(decision), inspection])) == 0
        rows = {r["part_id"]: dict(r) for r in store.parts.rows}
    finally:
        store.close()
    return {part_id: (row, hashlib.sha256(Path(row["image_path"]).read_bytes()).hexdigest()) for part_id, row in rows.items()}


def test_a_counter_just_below_the_dint_wrap_runs_across_it_and_overwrites_nothing(line_config, tmp_path):
    config = line_config(parts=PARTS, rate_hz=10)
    camera = config.cameras[0].name
    state = Path(config.station.state_dir) / f"part-id-{camera}"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(f"{FIRST}\n")  # as a station about 50 days into its run at 500 parts/s left it
    old = seed_old_parts(config, range(1, PARTS + 1))

    with running_line(config, tmp_path) as supervisor:
        wait_until(lambda: len(part_rows(config)) >= 2 * PARTS, 120, f"{PARTS} new decided parts")
        wait_until(lambda: supervisor.process("recorder").counters.get("rows_written", 0) >= PARTS, 30, "the recorder's counters")
        tags = read_result_tags(config.plc)
        recorder = dict(supervisor.process("recorder").counters)
        actuator = dict(supervisor.process("actuator").counters)

    rows = {r["part_id"]: dict(r) for r in part_rows(config)}
    new_ids = list(range(FIRST, FIRST + PARTS))
    assert sorted(rows) == list(range(1, PARTS + 1)) + new_ids, "every part once, under its 64-bit id"
    assert max(new_ids) > DINT_MAX
    new = [rows[i] for i in new_ids]
    assert all(r["plc_delivered"] == 1 for r in new), "every new part decided and delivered"
    assert [r["plc_seq"] for r in new] == list(range(1, PARTS + 1))
    assert recorder.get("decisions_refused", 0) == 0 and recorder.get("inspections_refused", 0) == 0
    assert actuator.get("plc_undelivered", 0) == 0
    last = max(new, key=lambda r: r["plc_seq"])
    assert tags["part_id"] == plc_part_id(last["part_id"]) == last["part_id"] - DINT_MAX, "the PLC's DINT tag wrapped"
    assert tags["sequence"] == PARTS

    for part_id, (row, digest) in old.items():
        assert rows[part_id] == row, f"old part {part_id}'s row untouched"
        assert hashlib.sha256(Path(row["image_path"]).read_bytes()).hexdigest() == digest, f"old part {part_id}'s image untouched"
    new_images = [Path(r["image_path"]) for r in new if r["image_path"]]
    assert new_images and not {str(p) for p in new_images} & {row["image_path"] for row, _ in old.values()}
    assert all(p.exists() for p in new_images)
