"""One owner for the line's records: only ``inspector/records/`` reads or writes the station database's tables.

Greps the source tree (not the tests, which read the real file to check what
was written): SQL naming one of the station database's tables, a connection
opened on an SQLite file, a read-only URI and sqlite-utils appear in
``inspector/records/`` and, for the other databases, in their own owners'
modules only, each named in the records package's docstring.
"""

from __future__ import annotations

import re
from pathlib import Path

import inspector.records

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ("inspector", "hmi", "calibration", "plc_io", "camera_drivers", "benchmarks", "scripts")
RECORDS = "inspector/records/"

STATION_TABLES = ("parts", "alarms", "recorder_state", "hmi_users", "reject_marks", "part_labels", "report_escapes")
SQL_ON_STATION_TABLES = re.compile(
    r"\b(?:FROM|JOIN|INTO|UPDATE|TABLE(?: IF NOT EXISTS)?|table_info\()\s*[\"'`]?(?:" + "|".join(STATION_TABLES) + r")\b"
)
CONNECT = re.compile(r"\bsqlite3\.connect\(")

# The other databases of the station, each opened by its one owner (the station database's tables are not in them).
OTHER_OWNERS = {
    "inspector/actuator/journal.py": "the actuator's decision journal (its own table called parts)",
    "inspector/audit.py": "the audit trail",
    "inspector/alarms/board_store.py": "the alarm board",
    "inspector/plant/outbox.py": "the MQTT outbox",
    "inspector/modelops/drift_series.py": "the drift series",
}
SQL_EXCEPTIONS = {"inspector/actuator/journal.py"}  # its 'parts' is the journal's own table, in the journal's file


def source_files() -> dict[str, str]:
    files = {}
    for folder in SOURCE:
        for path in sorted((ROOT / folder).rglob("*.py")):
            files[path.relative_to(ROOT).as_posix()] = path.read_text(encoding="utf-8")
    for path in sorted((ROOT / "scripts").iterdir()):
        if path.is_file() and path.suffix != ".py" and path.read_bytes()[:2] == b"#!":
            files[path.relative_to(ROOT).as_posix()] = path.read_text(encoding="utf-8")
    return files


def files_matching(pattern: re.Pattern[str] | str) -> set[str]:
    found = set()
    for name, text in source_files().items():
        if (pattern.search(text) if isinstance(pattern, re.Pattern) else pattern in text):
            found.add(name)
    return found


def outside_records(names: set[str]) -> set[str]:
    return {n for n in names if not n.startswith(RECORDS)}


def test_sql_on_the_station_database_tables_is_written_in_the_records_package_only():
    found = files_matching(SQL_ON_STATION_TABLES)
    assert outside_records(found) == SQL_EXCEPTIONS, "SQL on the line's tables outside inspector/records/"
    assert {"inspector/records/store.py", "inspector/records/parts.py", "inspector/records/marks.py"} <= found, \
        "the grep finds the owner's own SQL (it would find another's)"


def test_sqlite_files_are_opened_by_the_records_package_and_the_other_databases_owners_only():
    assert outside_records(files_matching(CONNECT)) == set(OTHER_OWNERS)


def test_a_database_is_opened_read_only_in_one_place():
    assert files_matching("mode=ro") == {"inspector/records/readonly.py"}


def test_sqlite_utils_is_used_by_the_records_package_only():
    assert outside_records(files_matching(re.compile(r"^\s*(?:import|from) sqlite_utils\b", re.M))) == set()


def test_the_records_package_names_the_other_databases_and_their_owners():
    doc = inspector.records.__doc__
    for path in OTHER_OWNERS:
        module = path.removesuffix(".py").replace("/", ".")
        assert f":mod:`{module}`" in doc, f"{module} is not named among the owners that are not records"
