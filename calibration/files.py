"""Writing calibration files so that a crash mid-write never leaves a broken one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from calibration import CalibrationError
from inspector.typed import to_dict


def write_json_atomically(path: Path, record: Any, what: str) -> Path:
    """Write ``record`` (a dataclass tree) as JSON beside ``path``, then rename it into place."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(to_dict(record), indent=2) + "\n")
        tmp.replace(path)
    except OSError as err:
        raise CalibrationError(f"cannot write {what} {path}: {err}") from err
    return path
