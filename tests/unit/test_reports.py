"""Shift and monthly reports: figures from a recorder database with known contents, the files, bad input."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from inspector.cli import main
from inspector.config import DEFAULT_CONFIG, load_config
from inspector.config.loader import config_from_dict
from inspector.config.schema import ReportBaseline, ReportCosts
from inspector.errors import ConfigError, ReportError
from inspector.records.station import StationDatabase
from inspector.records.store import Store
from inspector.reports.escapes import import_escapes
from inspector.reports.figures import report_figures
from inspector.reports.library import generate, list_reports
from inspector.reports.scheduler import ShiftReportScheduler
from inspector.reports.shifts import parse_month, parse_shift
from inspector.reports.synth import synth_month

SHIFT_START = 1793685600.0  # 2026-11-03 06:00 UTC


def reports_config(**overrides):
    base = load_config(DEFAULT_CONFIG).reports
    costs = ReportCosts(false_reject=10.0, escape=100.0, system_per_month=730.5)  # 730.5 h a month: 1 EUR an hour
    baseline = ReportBaseline("manual", false_reject_rate=0.05, escape_rate=0.05)
    return dataclasses.replace(base, costs=costs, baseline=baseline, **overrides)


def write_station(db: Path, station: str = "station-1", offset_s: float = 0.0) -> None:
    """100 parts of the 2026-11-03 early shift, a minute apart from 06:00, then nothing; one part before the shift.

    Results: 90 PASS, 6 REJECT, 2 FAILSAFE_REJECT, 2 FAILSAFE_PASS; latency part i: i+1 ms;
    model m1 for the first 50 parts, m2 after; operator marks 3 false rejects and 1 defect.
    """
    store = Store(db, db.parent / "images")
    results = ["PASS"] * 90 + ["REJECT"] * 6 + ["FAILSAFE_REJECT"] * 2 + ["FAILSAFE_PASS"] * 2
    rows = []
    for i, result in enumerate(results):
        failsafe = result.startswith("FAILSAFE")
        t = SHIFT_START + offset_s + 60 * i
        rows.append({"camera": "top", "part_id": i + 1, "station": station, "result": result,
                     "source": "deadline" if failsafe else "verdict", "t_trigger": t, "t_plc_written": t + (i + 1) / 1000,
                     "latency_ms": float(i + 1), "plc_delivered": 1, "model_version": None if failsafe else ("m1" if i < 50 else "m2")})
    rows.append({"camera": "top", "part_id": 1000, "station": station, "result": "REJECT", "source": "verdict",
                 "t_trigger": SHIFT_START - 30, "latency_ms": 5000.0, "plc_delivered": 1, "model_version": "m0"})
    assert len(store.record(rows)) == 0
    store.close()
    hmi = StationDatabase(db)
    for part_id, mark in ((91, "false_reject"), (92, "false_reject"), (93, "false_reject"), (94, "true_defect")):
        hmi.set_mark(hmi.part(("top", part_id)), mark, "anna")
    hmi.set_mark(hmi.part(("top", 1000)), "false_reject", "anna")  # before the shift: not counted
    hmi.close()


def write_escapes(tmp_path: Path, db: Path) -> None:
    csv = tmp_path / "audit.csv"
    csv.write_text("time,count,part_id,defect\n2026-11-03 07:00,2,,scratch\n2026-11-03 08:30:00,1,17,dent\n2026-11-04,5,,crack\n")
    result = import_escapes(db, csv, "UTC")
    assert (result.rows, result.added, result.skipped) == (3, 3, 0)


@pytest.fixture
def station_db(tmp_path: Path) -> Path:
    db = tmp_path / "a" / "inspector.db"
    write_station(db)
    write_escapes(tmp_path, db)
    return db


def test_shift_figures_are_counted_exactly(station_db: Path) -> None:
    reports = reports_config()
    period = parse_shift("2026-11-03/early", reports)
    [f] = report_figures([station_db], period, reports, now=SHIFT_START + 86400)
    assert (f.station, f.inspected, f.passed, f.rejected, f.model_rejects) == ("station-1", 100, 92, 8, 6)
    assert (f.failsafe_rejects, f.failsafe_passes, f.failsafes) == (2, 2, 4)
    assert f.reject_rate == pytest.approx(0.08)
    assert (f.false_rejects, f.confirmed_defects, f.false_reject_rate) == (3, 1, pytest.approx(0.03))
    assert (f.escapes, f.escape_rate) == (3, pytest.approx(0.03))
    assert f.latency_p50_ms == pytest.approx(50.5) and f.latency_p99_ms == pytest.approx(99.01) and f.latency_max_ms == 100
    assert [(m.version, m.parts) for m in f.models] == [("m1", 50), ("m2", 46)]
    # running from 06:00 to the last part at 07:39, then stopped until 14:00
    assert f.planned_s == 8 * 3600
    assert f.downtime_s == pytest.approx(8 * 3600 - 99 * 60)
    assert f.availability == pytest.approx(99 * 60 / (8 * 3600))
    assert len(f.stops) == 1
    m = f.money
    assert (m.false_reject_cost, m.escape_cost, m.baseline_cost) == (30, 300, pytest.approx(100 * (0.05 * 10 + 0.05 * 100)))
    assert m.savings == pytest.approx(550 - 330)
    assert m.system_cost == pytest.approx(8.0) and m.net == pytest.approx(212) and m.roi == pytest.approx(212 / 8)
    hourly = [b.inspected for b in f.buckets]
    assert hourly == [60, 40, 0, 0, 0, 0, 0, 0]
    # the audit's part 17 counts when it was inspected (06:16), the two parts without an id at the audit's 07:00
    assert [b.escapes for b in f.buckets] == [1, 2, 0, 0, 0, 0, 0, 0]


def test_a_shift_given_by_times_and_a_night_shift_crossing_midnight(station_db: Path) -> None:
    reports = reports_config()
    by_times = parse_shift("2026-11-03/06:30-07:00", reports)
    [f] = report_figures([station_db], by_times, reports, now=SHIFT_START + 86400)
    assert f.inspected == 30  # parts 31..60 (06:30:00 up to, not including, 07:00)
    night = parse_shift("2026-11-02/night", reports)
    assert night.end - night.start == 8 * 3600 and night.end == SHIFT_START
    [n] = report_figures([station_db], night, reports, now=SHIFT_START + 86400)
    assert (n.inspected, n.rejected, n.false_rejects) == (1, 1, 1)  # the part at 05:59:30


def test_report_files_html_pdf_and_index(station_db: Path, tmp_path: Path) -> None:
    reports = reports_config()
    folder = tmp_path / "reports"
    entry, _ = generate([station_db], parse_shift("2026-11-03/early", reports), reports, folder, now=SHIFT_START + 86400)
    pdf = (folder / entry.pdf).read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == 4
    html = (folder / entry.html).read_text()
    for text in ("Parts inspected", "<td>100</td>", "8 (8.00 %)", "3 (3.000 %)", "p50 50.5 ms, p99 99.0 ms", "m1", "m2",
                 "220 EUR", "data:image/png;base64,"):
        assert text.replace(" (", "  (") in html or text in html, text
    [listed] = list_reports(folder)
    assert (listed.kind, listed.label, listed.stations, listed.inspected) == ("shift", "2026-11-03 early", ["station-1"], 100)
    generate([station_db], parse_shift("2026-11-03/early", reports), reports, folder)  # again: replaces, not duplicates
    assert len(list_reports(folder)) == 1


def test_several_stations_in_one_report(station_db: Path, tmp_path: Path) -> None:
    other = tmp_path / "b" / "inspector.db"
    write_station(other, station="station-2", offset_s=3600)  # starts an hour later
    reports = reports_config()
    period = parse_shift("2026-11-03/early", reports)
    total, a, b = report_figures([station_db, other], period, reports, now=SHIFT_START + 86400)
    assert (total.station, a.station, b.station) == ("all stations", "station-1", "station-2")
    assert (total.inspected, total.rejected, total.false_rejects, total.escapes) == (200, 16, 6, 3)
    assert total.planned_s == 2 * 8 * 3600 and total.downtime_s == pytest.approx(a.downtime_s + b.downtime_s)
    assert b.downtime_s == pytest.approx(8 * 3600 - 99 * 60)  # an hour before, the rest after
    entry, _ = generate([station_db, other], period, reports, tmp_path / "reports", now=SHIFT_START + 86400)
    assert len(re.findall(rb"/Type\s*/Page\b", (tmp_path / "reports" / entry.pdf).read_bytes())) == 5
    assert entry.stations == ["station-1", "station-2"]


def test_escapes_file_problems_are_named_and_nothing_is_stored(station_db: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("time,count\n2026-11-03 07:00,1\n03/11/2026,1\n")
    with pytest.raises(ReportError, match=r"bad.csv, line 3: column 'time'.*'03/11/2026'"):
        import_escapes(station_db, bad, "UTC")
    bad.write_text("when,count\n2026-11-03,1\n")
    with pytest.raises(ReportError, match="must name a 'time' column"):
        import_escapes(station_db, bad, "UTC")
    bad.write_text("time,count\n2026-11-03,0\n")
    with pytest.raises(ReportError, match="line 2: column 'count': must be at least 1"):
        import_escapes(station_db, bad, "UTC")
    write_escapes_again = tmp_path / "audit.csv"  # the file imported by the fixture: nothing new
    assert import_escapes(station_db, write_escapes_again, "UTC").added == 0
    reports = reports_config()
    [f] = report_figures([station_db], parse_shift("2026-11-03/early", reports), reports)
    assert f.escapes == 3


def test_periods_and_bad_arguments() -> None:
    reports = reports_config()
    assert parse_month("2026-11", "Europe/Berlin").hours == 30 * 24
    assert parse_month("2026-10", "Europe/Berlin").hours == 31 * 24 + 1  # the clocks go back on 25 October
    for text, message in (("2026-11-03", "expected DATE/SHIFT"), ("2026-11-31/early", "expected a date YYYY-MM-DD"),
                          ("2026-11-03/lunch", "no shift named 'lunch' \\(configured: early, late, night"),
                          ("2026-11-03/25:00-26:00", "expected a time HH:MM")):
        with pytest.raises(ReportError, match=message):
            parse_shift(text, reports)
    for text in ("2026-13", "11-2026", "2026/11"):
        with pytest.raises(ReportError, match="--month: expected YYYY-MM"):
            parse_month(text, "UTC")


def test_reports_config_is_validated(tmp_path: Path) -> None:
    base = {"cameras": [{"name": "top"}], "detector": {"model": "m.onnx"}}
    for reports, field in (({"timezone": "Mars/Base"}, "reports.timezone"),
                           ({"shifts": [{"name": "a", "start": "06:00", "end": "14:00"}, {"name": "a", "start": "14:00", "end": "22:00"}]}, "reports.shifts[1].name"),
                           ({"shifts": [{"name": "a", "start": "6am", "end": "14:00"}]}, "reports.shifts[0].start"),
                           ({"costs": {"escape": -1}}, "reports.costs.escape"),
                           ({"baseline": {"false_reject_rate": 2}}, "reports.baseline.false_reject_rate"),
                           ({"colour": "red"}, "reports.colour")):
        with pytest.raises(ConfigError) as err:
            config_from_dict({**base, "reports": reports}, tmp_path)
        assert err.value.field == field
    # YAML reads an unquoted 14:00 as 840 (minutes): it is taken as the time it was
    config = config_from_dict({**base, "reports": {"shifts": [{"name": "day", "start": 360, "end": 840}]}}, tmp_path)
    assert (config.reports.shifts[0].start, config.reports.shifts[0].end) == ("06:00", "14:00")
    assert config.reports.folder == str(tmp_path / "reports") and config.reports.at_shift_end is False


def write_config(tmp_path: Path, db: Path) -> Path:
    path = tmp_path / "station.yaml"
    path.write_text(f"cameras: [{{name: top}}]\ndetector: {{model: m.onnx}}\nstation: {{state_dir: {tmp_path / 'state'}}}\n"
                    f"recorder: {{database: {db}}}\nreports: {{folder: {tmp_path / 'out'}}}\n")
    return path


def test_report_command_writes_the_report_and_refuses_bad_arguments(station_db: Path, tmp_path: Path, capsys) -> None:
    config = write_config(tmp_path, station_db)
    assert main(["report", "--config", str(config), "--shift", "2026-11-03/early"]) == 0
    out = capsys.readouterr().out
    assert "100 parts, reject rate 8.00%, false-reject rate 3.000%" in out
    assert (tmp_path / "out" / "shift" / "2026-11-03_early.pdf").is_file()
    assert main(["report", "--config", str(config), "list"]) == 0
    assert "2026-11-03 early" in capsys.readouterr().out
    audit = tmp_path / "audit2.csv"
    audit.write_text("time,count,defect\n2026-11-03 09:00,4,crack\n")
    assert main(["report", "escapes", "import", str(audit), "--config", str(config)]) == 0
    assert "1 row(s) read from" in (out := capsys.readouterr().out) and ", 1 added to" in out
    assert main(["report", "--config", str(config), "--shift", "2026-11-03/early"]) == 0
    assert "100 parts" in capsys.readouterr().out
    [f] = report_figures([station_db], parse_shift("2026-11-03/early", reports_config()), reports_config())
    assert f.escapes == 3 + 4
    for argv, message in (
        (["--shift", "2026-11-03/lunch"], "no shift named 'lunch'"),
        (["--month", "2026-13"], "--month: expected YYYY-MM"),
        ([], "say which period: --shift DATE/SHIFT or --month YYYY-MM"),
        (["--month", "2026-11", "--stations", str(tmp_path / "missing.db")], "missing.db does not exist"),
        (["escapes", "import"], "usage: inspector report escapes import FILE.csv"),
        (["frobnicate"], "unknown report action 'frobnicate'"),
    ):
        assert main(["report", "--config", str(config), *argv]) == 2
        assert message in capsys.readouterr().err
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_text("hello")
    assert main(["report", "--config", str(config), "--month", "2026-11", "--stations", str(not_a_db)]) == 2
    assert "notes.db" in capsys.readouterr().err


def test_scheduler_writes_each_ended_shift_once(station_db: Path, tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, station_db))
    scheduler = ShiftReportScheduler(config, settle_s=30)
    scheduler.marker.parent.mkdir(parents=True, exist_ok=True)
    scheduler.marker.write_text(repr(SHIFT_START))  # the night shift before was reported
    early_end = SHIFT_START + 8 * 3600
    assert scheduler.run_due(now=early_end + 10) == []  # ended, not settled yet
    [done] = scheduler.run_due(now=early_end + 31)
    assert done.label == "2026-11-03 early"
    assert scheduler.run_due(now=early_end + 60) == []
    [entry] = list_reports(config.reports.folder)
    assert entry.inspected == 100
    caught_up = scheduler.run_due(now=early_end + 16 * 3600 + 31)  # stopped for a while: late and night caught up
    assert [p.label for p in caught_up] == ["2026-11-03 late", "2026-11-03 night"]


def test_synthetic_month_and_its_report(tmp_path: Path) -> None:
    reports = reports_config(downtime_gap_s=600)  # parts come every 100 s here (2-10 s in the docs' month)
    period = parse_month("2026-10", "UTC")
    db = tmp_path / "synth" / "inspector.db"
    summary = synth_month(db, period, rate=0.01)
    assert 24_000 < summary.parts < 26_800  # 31 days at 0.01 parts/s, less the stops
    _, [f] = generate([db], period, reports, tmp_path / "reports", now=period.end + 1)
    assert f.inspected == summary.parts and f.rejected == summary.rejects and f.failsafes == summary.failsafes
    assert f.false_rejects == summary.false_rejects_marked > 0 and f.escapes == summary.escapes
    assert [m.version for m in f.models] == ["disc-yolov8n v1.3", "disc-yolov8n v1.4"]
    assert 0.9 < f.availability < 0.99 and len(f.buckets) == 31
    assert f.false_reject_rate < 0.01 and 0.02 < f.reject_rate < 0.05
    with pytest.raises(ReportError, match="already holds"):
        synth_month(db, period, rate=0.01)
