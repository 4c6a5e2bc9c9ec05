"""Stage a station for the quality screens' screenshots: ``python scripts/stage-quality-station.py FOLDER``.

Writes ``FOLDER/station.yaml`` for a station whose registry holds three packages signed by a key made here
(two promoted: production and last-known-good), a stored gate report and a finished shadow run with
disagreements, and whose recorder database and drift series hold 30 drift points with one active drift alarm.
It uses the tests' fixtures (``tests/hmi/quality_station.py``), so run it from the repository's root.
Then: ``xvfb-run -s "-screen 0 1920x1080x24" python -m hmi.screenshots --config FOLDER/station.yaml --out docs/screenshots --quality``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from calibration.station import open_audit_trail
from inspector.config import DEFAULT_CONFIG, load_config, write_config
from inspector.line_setup import local_line_config
from inspector.records.store import Store, decision_row
from tests.hmi.conftest import a_decision
from tests.hmi.quality_station import (
    drift_series_with_alarm,
    registry_with_history,
    shadow_run,
)
from tests.modelops.packages import trusting_test_key


def main(folder: Path) -> Path:
    folder = folder.resolve()
    config = trusting_test_key(local_line_config(load_config(DEFAULT_CONFIG), folder / "line"), folder)
    station = folder / "station.yaml"
    write_config(config, station)
    config = load_config(station)
    store = Store(Path(config.recorder.database), Path(config.recorder.image_dir))
    for part_id in range(1, 40):
        store.record([decision_row(a_decision(part_id, "REJECT" if part_id % 7 == 0 else "PASS"))])
    with open_audit_trail(config) as trail:
        packages = registry_with_history(config, folder, trail, user="quality")
        shadow_run(config, trail, packages["C"], packages["B"], parts=40, skipped=3)
    drift_series_with_alarm(config, store)
    store.close()
    return station


if __name__ == "__main__":
    print(main(Path(sys.argv[1])))
