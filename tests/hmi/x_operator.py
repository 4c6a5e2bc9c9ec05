"""An operator with real X events: ``python -m tests.hmi.x_operator ROOT CONFIG OUT [TRIALS]`` under Xvfb.

Runs the HMI window (xcb, 1024 x 768 at 0,0) on a line that writes 10 parts a
second into ROOT's recorder database (every other one a reject). Each trial
looks at the first unmarked card of the reject strip, waits for a new reject
to come in, and 0.1 s later taps where that card's "Good part" button was, with
``xdotool`` (a real X pointer event, as a touchscreen's driver sends them); then
taps "N new rejects" the same way. Writes to OUT, as JSON, what each trial saw
and what the database then held as marked.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from itertools import count
from pathlib import Path

from PySide6.QtCore import QTimer

from hmi.app import HmiWindow, qt_application
from hmi.context import open_hmi
from hmi.users import UserDirectory, add_user
from inspector.config import load_config
from tests.hmi.conftest import PINS, Line, a_decision


def x_tap(x: int, y: int) -> subprocess.Popen:
    return subprocess.Popen(["xdotool", "mousemove", str(x), str(y), "click", "1"])


def main() -> int:
    root, config_path, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    trials = int(sys.argv[4]) if len(sys.argv) > 4 else 30
    app = qt_application()
    line = Line(root)
    ids = count(7000)

    def one_part() -> None:
        part_id = next(ids)
        line.record(a_decision(part_id, "REJECT" if part_id % 2 else "PASS"))

    for _ in range(8):
        one_part()
    ctx = open_hmi(load_config(config_path), live=False, shift_start_t=0.0)
    users = UserDirectory(ctx.db, ctx.audit, iterations=2_000)
    add_user(users, ctx.audit, "olga", *PINS["olga"], by="test")
    window = HmiWindow(ctx, poll_ms=20, refresh_ms=100)
    window.setGeometry(0, 0, 1024, 768)
    window.show()
    flow = QTimer(interval=100, timeout=one_part)
    strip = window.operator.strip
    results: list[dict] = []
    state: dict = {"step": "start", "t": time.monotonic(), "taps": []}

    def marks() -> list[tuple[str, int]]:
        return [tuple(r) for r in ctx.db.conn.execute("SELECT camera, part_id FROM reject_marks ORDER BY rowid")]

    def centre(widget) -> tuple[int, int]:
        point = widget.mapToGlobal(widget.rect().center())
        return point.x(), point.y()

    def step() -> None:
        now = time.monotonic()
        s = state["step"]
        state["taps"] = [p for p in state["taps"] if p.poll() is None]
        if s == "start" and now - state["t"] > 2.0:
            window._login("olga", PINS["olga"][1])
            flow.start()
            state.update(step="settle", t=now)
        elif s == "settle" and now - state["t"] > 0.6 and strip.cards:  # shown and painted: the operator looks
            card = next((c for c in strip.cards if c.part.mark is None), None)
            if card is None:
                return
            state.update(step="wait_new", seen=list(card.part.key), at=centre(card.false_reject),
                         newest=ctx.operator.recent_rejects[0].key, marks=len(marks()))
        elif s == "wait_new" and ctx.operator.recent_rejects[0].key != state["newest"]:
            state.update(step="delay", t=now)  # a new reject came in
        elif s == "delay" and now - state["t"] >= 0.1:
            state["taps"].append(x_tap(*state["at"]))
            state.update(step="wait_mark", t=now)
        elif s == "wait_mark":
            stored = marks()
            if len(stored) > state["marks"] or now - state["t"] > 15:
                results.append({"seen": state["seen"], "marked": [list(k) for k in stored[state["marks"]:]],
                                "tap_s": round(now - state["t"], 3)})
                if len(results) >= trials:
                    out.write_text(json.dumps(results))
                    app.quit()
                    return
                state.update(step="show", t=now)
        elif s == "show" and strip.new_rejects.isEnabled() and now - state["t"] > 0.3:
            state.update(step="shown", tap=x_tap(*centre(strip.new_rejects)), t=now)
        elif s == "shown" and state["tap"].poll() is not None:  # the tap landed (xdotool is slow on a busy machine)
            state.update(step="settle", t=now)  # the operator looks at the strip the tap brought

    ticker = QTimer(interval=10, timeout=step)
    ticker.start()
    QTimer.singleShot(600_000, app.quit)  # never left running
    app.exec()
    flow.stop()
    ctx.close()
    line.store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
