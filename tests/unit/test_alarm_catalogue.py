"""The alarm catalogue is the one list of alarms: every code the source raises is in it, with the right kind."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from inspector.alarms.catalogue import CATALOGUE, definition

ROOT = Path(__file__).resolve().parents[2]
# the owner's calls: raise_/clear/set/is_raised take conditions, event takes events, the older call form takes either
CALLS = re.compile(r'\b(?:alarm|\.alarm)\.(raise_|clear|set|event|is_raised)\(\s*f?"([a-z][a-z_.]*)"')
OLDER = re.compile(r'\b(?:self\.)?alarm\(\s*f?"([a-z][a-z_.]*)"\s*,\s*"(?:info|warning|critical)"')


def _calls() -> list[tuple[str, str, str]]:
    found = []
    for folder in ("inspector", "calibration", "plc_io", "camera_drivers", "hmi"):
        for source in (ROOT / folder).rglob("*.py"):
            text = source.read_text()
            found += [(str(source.relative_to(ROOT)), method, code) for method, code in CALLS.findall(text)]
            found += [(str(source.relative_to(ROOT)), "older", code) for code in OLDER.findall(text)]
    return found


def test_the_source_raises_alarms_and_every_code_is_in_the_catalogue_with_its_kind():
    calls = _calls()
    codes = {code for _, _, code in calls}
    assert {"service_down", "plc_connection_lost", "failsafe_decision", "camera_lost", "image_store_failed"} <= codes
    wrong = []
    for where, method, code in calls:
        kind = definition(code).kind  # KeyError names a code missing from the catalogue
        if method == "event" and kind != "event" or method in ("raise_", "clear", "set", "is_raised") and kind != "condition":
            wrong.append(f"{where}: {method}({code!r}) but the catalogue says {kind}")
    assert wrong == []


@pytest.mark.parametrize("code, kind", [("image_health.focus", "condition"), ("drift_brightness", "condition"),
                                        ("failsafe_decision", "event"), ("service_down", "condition")])
def test_families_are_found_by_prefix_and_unknown_codes_refused(code, kind):
    assert definition(code).kind == kind
    with pytest.raises(KeyError, match="not in the catalogue"):
        definition("drift_")  # a family's prefix alone is not a code
    with pytest.raises(KeyError, match="not in the catalogue"):
        definition("made_up")


def test_every_condition_names_how_it_clears_and_every_entry_has_an_owner():
    for entry in CATALOGUE.values():
        assert entry.owner in ("supervisor", "actuator", "recorder", "camera", "detector", "publisher"), entry.code
        if entry.kind == "condition":
            assert "clear" in entry.means.lower() or "back" in entry.means.lower(), entry.code
