"""The quality screens driven through their widgets (pytest-qt, offscreen): models with the signed rollback, drift
trends and alarms, triage in the review queue, reports and "Escape reported".

Real parts throughout: a real registry holding packages signed by a test key, the station's audit trail and
accounts, the recorder's SQLite database written by the real Store, the detector's drift series file, a report
rendered by the report generator.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import msgspec
import pytest
from PySide6.QtCore import Qt

from hmi.app import HmiWindow
from hmi.context import open_hmi
from hmi.users import UserDirectory, add_user
from inspector.errors import InspectorError
from inspector.messages import Detection
from inspector.modelops.registry import ModelRegistry
from inspector.reports.figures import report_figures
from inspector.reports.library import generate
from inspector.reports.shifts import Period
from tests.hmi.conftest import PINS, Line, a_decision
from tests.hmi.layout_check import layout_problems
from tests.hmi.quality_station import (
    drift_series_with_alarm,
    registry_with_history,
    shadow_run,
)
from tests.hmi.test_screens import log_in
from tests.modelops.packages import trusting_test_key

SIZES = [(1024, 768), (1280, 800), (1920, 1080)]


@pytest.fixture
def config(line_config, tmp_path):
    return trusting_test_key(line_config(), tmp_path)


@pytest.fixture
def line(config, tmp_path):
    line = Line(tmp_path)
    assert line.database == Path(config.recorder.database)
    yield line
    line.store.close()


@pytest.fixture
def ctx(config, line):
    ctx = open_hmi(config, live=False, shift_start_t=0.0)
    users = UserDirectory(ctx.db, ctx.audit, iterations=2_000)
    for name, (role, pin) in PINS.items():
        add_user(users, ctx.audit, name, role, pin, by="test")
    yield ctx
    ctx.close()


@pytest.fixture
def opened() -> list[Path]:
    return []


@pytest.fixture
def window(qtbot, ctx, opened):
    window = HmiWindow(ctx, poll_ms=50, refresh_ms=200)
    qtbot.addWidget(window)
    window.quality.reports.opener = lambda path: opened.append(path) or True  # no desktop viewer under test
    window.resize(1280, 800)
    window.show()
    return window


@pytest.fixture
def packages(config, tmp_path, ctx):
    found = registry_with_history(config, tmp_path, ctx.audit)
    shadow_run(config, ctx.audit, found["C"], found["B"])
    return found


def open_quality(qtbot, window: HmiWindow, page: str = "models") -> None:
    qtbot.mouseClick(window.quality_button, Qt.LeftButton)
    assert window.current_screen() == "quality"
    qtbot.mouseClick(window.quality.tabs[page], Qt.LeftButton)
    assert window.quality.stack.currentWidget() is window.quality.pages[page]


def item_texts(widget) -> list[str]:
    return [widget.item(i).text() for i in range(widget.count())]


# -- models -------------------------------------------------------------------------------------------
def test_the_model_screen_shows_production_last_known_good_and_candidates_with_gate_and_shadow(qtbot, window, packages, config):
    log_in(qtbot, window, "quinn")
    open_quality(qtbot, window)
    screen = window.quality.models
    a, b, c = packages["A"], packages["B"], packages["C"]
    [slot] = item_texts(screen.slots)
    assert slot.split("\n") == [f"primary: {c.label}", f"yolo · signed by {c.signer}",
                                 f"installed by quinn {time.strftime('%Y-%m-%d %H:%M', time.localtime(c.installed_at))}",
                                 slot.split("\n")[3], f"last-known-good: {b.label}"]
    assert slot.split("\n")[3].startswith("promoted by quinn ")
    rows = item_texts(screen.packages)
    assert [r.split("\n")[0] for r in rows] == [c.label, b.label, a.label], "newest install first"
    assert "production (primary)" in rows[0] and "last-known-good (primary)" in rows[1] and "candidate" in rows[2]
    golden = ModelRegistry(config).golden().latest().version
    assert f"gate PASSED on {golden}" in rows[0] and "never gated" in rows[1]
    assert "shadow report: 6 parts, 2 disagreements, 2 skipped" in rows[0] and "never in shadow" in rows[2]

    screen.packages.setCurrentRow(0)
    qtbot.waitUntil(lambda: window.ctx.models.current is not None)
    qtbot.mouseClick(screen.gate_button, Qt.LeftButton)
    report = screen.gate_text.toPlainText()
    assert report.startswith(f"# Gate: {c.label} against {b.label} (primary)") and "**PASSED**" in report
    assert f"Golden set {golden}: 4 images (2 good, 2 defective, 4 challenge parts)" in report and "Stored in " in report

    qtbot.mouseClick(screen.disagreement_button, Qt.LeftButton)
    listed = item_texts(screen.disagreements)
    assert len(listed) == 2
    assert "part 1 (top)" in listed[0] and f"production: REJECT ({packages['B'].label}: scratch)" in listed[0] and "candidate: PASS" in listed[0]
    assert "part 2 (top)" in listed[1] and "production: PASS" in listed[1] and f"candidate: REJECT ({c.label}: scratch)" in listed[1]
    screen.disagreements.setCurrentRow(1)
    assert screen.image.pixmap is not None and not screen.image.pixmap.isNull(), "the disagreement's image is shown"


def test_rollback_is_signed_with_the_pin_again_and_a_reason_and_shows_the_audit_entry(qtbot, window, packages, config, ctx):
    b, c = packages["B"], packages["C"]
    log_in(qtbot, window, "quinn")
    open_quality(qtbot, window)
    screen = window.quality.models
    qtbot.mouseClick(screen.rollback, Qt.LeftButton)
    panel = screen.signature
    assert screen.pages.currentWidget() is panel and f"from {c.label} to {b.label}" in panel.what.text()

    def sign(pin: str, reason: str) -> None:
        panel.reason.setEditText(reason)
        for digit in pin:
            qtbot.mouseClick(panel.keys[digit], Qt.LeftButton)
        qtbot.mouseClick(panel.sign, Qt.LeftButton)

    sign("9999", "false rejects rising")
    assert "wrong PIN" in window.message.text()
    sign(PINS["quinn"][1], "  ")
    assert "needs a reason" in window.message.text()
    with ModelRegistry(config, trail=ctx.audit) as registry:
        assert registry.production().slot("primary").package == c.package_id, "nothing rolled back yet"

    sign(PINS["quinn"][1], "false rejects rising")
    with ModelRegistry(config, trail=ctx.audit) as registry:
        assert registry.production().slot("primary").package == b.package_id
    entry = ctx.audit.latest("model_rollback", "primary")
    assert entry.user == "quinn" and entry.after["signature"] == "PIN re-entered" and entry.after["reason"] == "false rejects rising"
    assert entry.before["label"] == c.label and entry.after["label"] == b.label
    shown = screen.gate_text.toPlainText()
    assert f"now runs {b.label}" in shown and f"Audit #{entry.id}: model_rollback by quinn" in shown
    assert item_texts(screen.slots)[0].startswith(f"primary: {b.label}")


def test_an_operator_cannot_open_the_quality_screen(qtbot, window, packages):
    log_in(qtbot, window, "olga")
    assert not window.quality_button.isEnabled()
    assert not window.open_screen("quality") and window.current_screen() == "operator"
    assert "may not open the model, drift and reports screens" in window.message.text()


def test_a_tampered_production_pointer_is_shown_as_a_problem_not_a_crash(qtbot, window, packages, config):
    pointer = ModelRegistry(config).pointer_path
    document = json.loads(pointer.read_text())
    document["slots"]["primary"]["package"] = packages["A"].package_id
    pointer.write_text(json.dumps(document))
    log_in(qtbot, window, "quinn")
    open_quality(qtbot, window)
    assert "does not carry the station's seal" in window.quality.models.status.text()
    assert window.quality.models.slots.count() == 0 and not window.quality.models.rollback.isEnabled()


# -- drift ---------------------------------------------------------------------------------------------
def test_the_drift_screen_plots_each_measure_against_its_limit_and_lists_active_drift_alarms(qtbot, window, config, line):
    drift_series_with_alarm(config, line.store)
    log_in(qtbot, window, "quinn")
    open_quality(qtbot, window, "drift")
    screen = window.quality.drift
    assert screen.camera.currentText() == "top"
    brightness, contrast, scores, reject_rate = (p.trend for p in screen.plots)
    assert [t.measure for t in (brightness, contrast, scores, reject_rate)] == ["brightness", "contrast", "scores", "reject_rate"]
    assert len(brightness.points) == 30 and brightness.limit == config.drift.max_brightness_shift
    assert brightness.over_limit and not contrast.over_limit and not scores.over_limit
    assert contrast.limit == config.drift.max_contrast_change and scores.limit == config.drift.max_score_psi
    assert "limit 15" in screen.plots[0].title()
    alarms = item_texts(screen.alarms)
    assert len(alarms) == 1 and "drift_brightness" in alarms[0], "the cleared contrast alarm is not listed"
    assert "1 measure(s) over the limit now" in screen.summary.text()


def test_the_detector_series_writer_keeps_every_nth_part_and_only_the_latest_points(config, tmp_path):
    from inspector.modelops.drift_series import DriftSeriesWriter, read_drift_series

    path = tmp_path / "drift.db"
    writer = DriftSeriesWriter(path, every=5, keep=10)
    stored = [writer.add("top", i, {"brightness": float(i)} if i > 20 else {}, t=float(i)) for i in range(1, 601)]
    writer.close()
    assert sum(stored) == 116, "every fifth part, once measures exist (from part 25)"
    points = read_drift_series(path)["top"]
    assert [p.part_id for p in points][-1] == 600 and points[-1].values["brightness"] == 600.0
    assert len(points) <= 10 + 99, "older points are deleted beyond the kept number"
    assert DriftSeriesWriter(path, every=0, keep=10).add("top", 1, {"brightness": 1.0}) is False


# -- triage -------------------------------------------------------------------------------------------
def test_the_review_queue_lists_parts_by_uncertainty_least_certain_first(qtbot, window, config, line):
    meta = json.loads(Path(config.detector.model).with_suffix(".json").read_text())
    label = f"{meta['name']}@{meta['version']}"
    threshold = max(meta.get("class_thresholds", {}).get("scratch", 0.0), config.detector.families.yolo.min_confidence)
    offsets = {11: 0.05, 12: -0.02, 13: 0.3, 14: 0.09, 15: -0.07}
    for part_id, offset in offsets.items():
        score = threshold + offset
        result = "REJECT" if score >= threshold else "PASS"
        decision = a_decision(part_id, result, detections=[Detection("scratch", score, (100.0, 120.0, 180.0, 160.0), 3200.0,
                                                                     score >= threshold)])
        decision = msgspec.structs.replace(decision, verdict=msgspec.structs.replace(decision.verdict, model_version=label))
        line.record(decision, image=True)
    log_in(qtbot, window, "quinn")
    qtbot.mouseClick(window.review_button, Qt.LeftButton)
    review = window.review
    review.verdict_filter.setCurrentIndex(review.verdict_filter.findText("least certain"))
    assert [p.part_id for p in window.ctx.review.queue] == [12, 11, 15, 14], "closest to the threshold first; 13 is sure"
    first = item_texts(review.queue)[0]
    assert first.startswith("#12 PASS") and f"scratch {threshold - 0.02:.2f} vs {threshold:.2f}" in first
    review.queue.setCurrentRow(0)
    qtbot.mouseClick(review.good, Qt.LeftButton)
    qtbot.mouseClick(review.save, Qt.LeftButton)
    assert [p.part_id for p in window.ctx.review.queue] == [11, 15, 14], "a labelled part leaves the triage queue"


# -- reports and escapes ----------------------------------------------------------------------------------
def test_reports_are_listed_and_open_and_an_escape_is_stored_where_the_reports_count_it(qtbot, window, config, line, ctx, opened):
    t0 = time.time() - 3600
    for part_id in range(1, 21):
        line.record(a_decision(part_id, "REJECT" if part_id % 5 == 0 else "PASS", t_trigger=t0 + part_id))
    period = Period("shift", "test shift", t0 - 60, time.time() + 60, config.reports.timezone)
    entry, _ = generate([Path(config.recorder.database)], period, config.reports, Path(config.reports.folder))
    log_in(qtbot, window, "quinn")
    open_quality(qtbot, window, "reports")
    screen = window.quality.reports
    [row] = item_texts(screen.list)
    assert row.startswith("Shift test shift · station-1") and "20 parts" in row and "reject rate 20.0 %" in row
    qtbot.mouseClick(screen.open_pdf, Qt.LeftButton)
    assert opened == [Path(config.reports.folder) / entry.pdf] and opened[0].is_file()
    assert str(opened[0]) in screen.where.text()

    screen.part.setText("999")
    screen.defect.setCurrentIndex(screen.defect.findText("scratch"))
    qtbot.mouseClick(screen.record, Qt.LeftButton)
    assert "part 999 is not in the station's records" in window.message.text()
    screen.part.setText("7")
    screen.note.setText("found at the customer's incoming inspection")
    qtbot.mouseClick(screen.record, Qt.LeftButton)
    assert "✔ recorded: part 7" in screen.result.text() and screen.part.text() == ""
    conn = sqlite3.connect(config.recorder.database)
    rows = conn.execute("SELECT t, count, part_id, defect, note, source FROM report_escapes").fetchall()
    conn.close()
    assert rows == [(pytest.approx(t0 + 7), 1, 7, "scratch", "found at the customer's incoming inspection", "hmi:quinn")]
    entry_audit = ctx.audit.latest("escape_report")
    assert entry_audit.user == "quinn" and entry_audit.after["part_id"] == 7 and entry_audit.after["defect"] == "scratch"
    [figures] = report_figures([Path(config.recorder.database)], period, config.reports)
    assert figures.escapes == 1, "the shift report counts the escape entered on the HMI"

    qtbot.mouseClick(screen.record, Qt.LeftButton)  # nothing entered
    assert "enter the part's id or the time it was made" in window.message.text()


# -- layout ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_the_quality_pages_stay_whole(qtbot, window, packages, config, line, size):
    drift_series_with_alarm(config, line.store)
    log_in(qtbot, window, "quinn")
    window.resize(*size)
    open_quality(qtbot, window)
    window.quality.models.packages.setCurrentRow(0)
    qtbot.wait(50)
    for page in ("models", "drift", "reports", "alarms"):
        qtbot.mouseClick(window.quality.tabs[page], Qt.LeftButton)
        if page == "models":
            qtbot.mouseClick(window.quality.models.disagreement_button, Qt.LeftButton)
        qtbot.wait(50)
        assert window.size().toTuple() == size
        problems = layout_problems(window)
        assert not problems, f"{page}:\n" + "\n".join(problems)
    qtbot.mouseClick(window.quality.tabs["models"], Qt.LeftButton)
    qtbot.mouseClick(window.quality.models.rollback, Qt.LeftButton)  # the signature panel
    problems = layout_problems(window)
    assert not problems, "rollback signature:\n" + "\n".join(problems)


def test_an_escape_by_time_counts_in_plant_time_a_repeat_is_refused_and_an_operator_may_not_enter_one(ctx, config, line):
    import datetime as dt

    from hmi.roles import AccessDenied
    from inspector.errors import ReportError
    from inspector.reports.shifts import zone

    reports = ctx.reports
    ctx.session.login("quinn", PINS["quinn"][1])
    row = reports.report_escape("", "2026-11-12 14:30", "top", "dent", "customer audit 4711")
    made = dt.datetime(2026, 11, 12, 14, 30, tzinfo=zone(config.reports.timezone)).timestamp()
    assert row["t"] == made and row["part_id"] is None and row["camera"] == "top"
    with pytest.raises(ReportError, match="already recorded"):
        reports.report_escape("", "2026-11-12 14:30", "top", "dent", "customer audit 4711")
    with pytest.raises(InspectorError, match="expected 2026-11-12 or 2026-11-12 14:30"):
        reports.report_escape("", "12.11.2026", "top", "dent", "")
    ctx.session.logout()
    ctx.session.login("olga", PINS["olga"][1])
    with pytest.raises(AccessDenied):
        reports.report_escape("", "2026-11-12 15:00", "top", "dent", "")
    conn = sqlite3.connect(config.recorder.database)
    assert conn.execute("SELECT count(*) FROM report_escapes").fetchone()[0] == 1
    conn.close()
    assert [e.after["note"] for e in ctx.audit.entries("escape_report")] == ["customer audit 4711"]


def test_a_shadow_disagreement_opens_on_the_review_screen_when_the_recorder_kept_its_image(qtbot, window, packages, line):
    line.record(a_decision(1, "REJECT"))  # production rejected part 1: the recorder kept its image
    log_in(qtbot, window, "quinn")
    open_quality(qtbot, window)
    screen = window.quality.models
    screen.packages.setCurrentRow(0)
    qtbot.waitUntil(lambda: len(window.ctx.models.disagreements) == 2)
    qtbot.mouseClick(screen.disagreement_button, Qt.LeftButton)
    screen.disagreements.setCurrentRow(1)  # part 2: production passed it, no image was kept
    qtbot.mouseClick(screen.review_part, Qt.LeftButton)
    assert window.current_screen() == "quality" and "kept no image of it" in window.message.text()
    screen.disagreements.setCurrentRow(0)
    qtbot.mouseClick(screen.review_part, Qt.LeftButton)
    assert window.current_screen() == "review" and window.ctx.review.current.key == ("top", 1)
