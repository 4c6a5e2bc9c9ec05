"""``sys.getrefcount(None)`` over the HMI's own void Qt calls, on whichever PySide6 the running Python has.

Builds the real HMI (``hmi.app.HmiWindow`` on the embedded default station,
its database in a temporary folder, an operator logged in, a rejected part and
an alarm on screen) and calls, many times each, the Qt calls that return
nothing which the HMI makes on those widgets, then its update paths (the
operator screen's render, a live decision, the top bar, a status light). A
sound binding leaves ``None``'s count where it was; PySide6 6.12.0 on Python
3.11 loses one reference per call (``Fatal Python error: none_dealloc`` once
the count reaches zero). The script holds a ballast of references to ``None``
so that a leaking binding survives the measurement and reports its figures.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/qt_none_refcount.py --calls 10000
    ... --json -        the figures as JSON on stdout (tests/hmi/test_qt_binding.py reads them)

Any venv with PySide6 and Inspector's dependencies runs it; the results in
benchmarks/results/qt_binding.md came from scratch venvs with one binding each.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PATH_LOSS_BOUND = 64  # void Qt calls per update path, at most (the operator screen's redraw makes 20)
_ballast: list[None] = []  # references to None held through the run: more than a leaking binding loses in it


def build_window(folder: Path):
    """The HMI window as a station shows it: operator logged in, on the operator screen, a reject and an alarm shown."""
    from hmi.app import HmiWindow, qt_application
    from hmi.context import open_hmi
    from inspector.config import DEFAULT_CONFIG, load_config
    from inspector.line_setup import local_line_config

    app = qt_application()
    config = local_line_config(load_config(DEFAULT_CONFIG), folder)
    ctx = open_hmi(config, live=False, demo_users=True, pbkdf2_iterations=2_000)
    window = HmiWindow(ctx, poll_ms=3_600_000, refresh_ms=3_600_000)  # the timers stay out of the measurement
    window.resize(1280, 800)
    window.show()
    ctx.session.login("operator", "1111")
    window.open_screen("operator")
    ctx.operator.handle([a_decision(1, "REJECT"), an_alarm()])
    app.processEvents()
    return app, ctx, window


def a_decision(part_id: int, result: str):
    from inspector.messages import Decision, Detection, Verdict

    t = time.time()
    detections = [Detection("scratch", 0.9, (100.0, 120.0, 180.0, 160.0), 3200.0, True)] if result == "REJECT" else []
    verdict = Verdict("station-1", "top", part_id, part_id, result, t, t + 0.02, "m-bench", detections, {"inference": 10.0})
    return Decision("station-1", "top", part_id, part_id, result, "verdict", t, t + 0.03, True, t + 0.04, "", verdict)


def an_alarm():
    from inspector.messages import Alarm

    return Alarm("station-1", "camera:top", "camera_lost", "critical", "camera top: no frame for 2 s", time.time(), True)


def void_calls(window) -> list[tuple[str, str, Callable[[int], None]]]:
    """(Qt call, the HMI widget it is made on, the call): the kinds of void call the HMI makes on every redraw."""
    op = window.operator
    return [
        ("QLabel.setText", "operator screen: verdict indicator", lambda i: op.indicator.setText(("PASS", "REJECT")[i & 1])),
        ("QWidget.setStyleSheet", "operator screen: verdict indicator",
         lambda i: op.indicator.setStyleSheet(f"background: {('#2e7d32', '#c62828')[i & 1]}; color: white;")),
        ("QAbstractButton.setChecked", "top bar: Operator button", lambda i: window.operator_button.setChecked(bool(i & 1))),
        ("QWidget.setVisible", "top bar: Quality button", lambda i: window.quality_button.setVisible(True)),
        ("QWidget.show / hide", "operator screen: alarm banner", lambda i: op.banner.show() if i & 1 else op.banner.hide()),
        ("QWidget.update", "operator screen: part image", lambda i: op.image.update()),
        ("QWidget.setEnabled", "top bar: Log out button", lambda i: window.logout_button.setEnabled(True)),
        ("QWidget.setToolTip", "top bar: user label", lambda i: window.user_label.setToolTip(("operator", "Operator")[i & 1])),
    ]


def update_paths(window, ctx) -> list[tuple[str, str, Callable[[int], None]]]:
    """The HMI's own update paths, each making many void Qt calls."""
    op = window.operator
    return [
        ("OperatorScreen.render", "the operator screen's redraw (every poll with news, every refresh)", lambda i: op.render()),
        # the same part each time: a new one would add to what the view-model remembers (records holding None)
        ("OperatorViewModel.handle", "the live path: a decision message, then the redraw",
         lambda i, decision=a_decision(10, "PASS"): ctx.operator.handle([decision])),
        ("HmiWindow._update_bar", "the top bar (login, screen change)", lambda i: window._update_bar()),
        ("StatusLight.set", "a status light", lambda i: op.lights["camera"].set(("ok", "warn")[i & 1], f"frame {i}")),
    ]


def measure(name: str, widget: str, call: Callable[[int], None], count: int) -> dict:
    gc.collect()
    before = sys.getrefcount(None)
    for i in range(count):
        call(i)
    drift = sys.getrefcount(None) - before
    return {"call": name, "on": widget, "calls": count, "drift": drift, "per_call": round(drift / count, 3)}


def run(calls: int, path_calls: int) -> dict:
    import PySide6
    import shiboken6
    from PySide6.QtCore import qVersion

    headroom = sys.getrefcount(None)  # how many references a leaking binding may lose before the abort
    with tempfile.TemporaryDirectory(prefix="qt-none-") as folder:
        app, ctx, window = build_window(Path(folder))
        try:
            calls_of = void_calls(window)
            paths = update_paths(window, ctx)
            _ballast.extend([None] * (len(calls_of) * calls + len(paths) * path_calls * PATH_LOSS_BOUND + 100_000))
            void_rows = [measure(name, on, call, calls) for name, on, call in calls_of]
            path_rows = [measure(name, on, call, path_calls) for name, on, call in paths]
            app.processEvents()
        finally:
            window.close()
            ctx.close()
    return {
        "pyside6": PySide6.__version__, "shiboken6": shiboken6.__version__, "qt": qVersion(),
        "python": platform.python_version(), "platform": os.environ.get("QT_QPA_PLATFORM", ""),
        "none_refcount_at_start": headroom, "rows": void_rows + path_rows,
        "void_calls": sum(r["calls"] for r in void_rows), "void_call_drift": sum(r["drift"] for r in void_rows),
    }


def table(result: dict) -> str:
    lines = [f"PySide6 {result['pyside6']} (shiboken6 {result['shiboken6']}, Qt {result['qt']}), Python {result['python']}, "
             f"QT_QPA_PLATFORM={result['platform'] or '(unset)'}; sys.getrefcount(None) at start {result['none_refcount_at_start']}",
             "", "| call | on | calls | change of sys.getrefcount(None) | per call |", "|---|---|---:|---:|---:|"]
    lines += [f"| `{r['call']}` | {r['on']} | {r['calls']:,} | {r['drift']:+,} | {r['per_call']:+} |" for r in result["rows"]]
    lines.append(f"\nvoid calls {result['void_calls']:,}: sys.getrefcount(None) moved {result['void_call_drift']:+,}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=10_000, help="calls of each kind of void Qt call (default 10000)")
    parser.add_argument("--path-calls", type=int, default=500, help="calls of each HMI update path (default 500)")
    parser.add_argument("--json", metavar="FILE", help="write the figures as JSON ('-': stdout, instead of the table)")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    result = run(args.calls, args.path_calls)
    if args.json:
        text = json.dumps(result, indent=None if args.json == "-" else 1)
        sys.stdout.write(text + "\n") if args.json == "-" else Path(args.json).write_text(text + "\n")
    if args.json != "-":
        print(table(result))
    sys.stdout.flush()
    sys.stderr.flush()
    # Leave without tearing down: on a leaking binding the ballast holds references the binding took from None;
    # releasing it at exit would abort the process (Fatal Python error: none_dealloc) after the figures were written.
    os._exit(0)


if __name__ == "__main__":
    main()
