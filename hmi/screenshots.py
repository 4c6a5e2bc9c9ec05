"""Screenshots for the docs: ``python -m hmi.screenshots --config STATION --out docs/screenshots [--quality]``.

``--quality``: the model and drift pages of the quality screen instead (``hmi-models-<w>x<h>.png``,
``hmi-drift-<w>x<h>.png``), logged in as the demo's quality engineer, the newest package chosen and its
shadow disagreements shown.

Runs the HMI window on the given station (live beside a running line, or on
its database), logs in as the demo's operator, then its quality engineer,
and saves each screen with ``QWidget.grab()``. Needs a display (Xvfb will do).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from hmi.app import HmiWindow, qt_application
from hmi.context import open_hmi
from hmi.users import DEMO_USERS
from inspector.config import load_config

log = logging.getLogger(__name__)


def _run_for(app: QApplication, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def _open_a_defective_part(ctx) -> str:
    """Open a reject the model outlined; failing that, a synthetic part that is defective by its ground
    truth, with a box drawn where the defect is (as the quality engineer would draw it; not saved)."""
    review = ctx.review
    outlined = [p for p in review.queue if p.is_reject and p.detections]
    if outlined:
        review.open(outlined[0].key)
        return f"part {outlined[0].part_id}: the model's boxes"
    from inspector.synthetic import PartGenerator, parse_source

    for part in review.queue:
        source = parse_source(ctx.db.frame_source(part.key))
        if source is None:
            continue
        seed, defect_rate, index = source
        truth = PartGenerator(seed=seed, defect_rate=defect_rate).part(index)
        if truth.defects:
            review.open(part.key)
            for defect in truth.defects:
                review.add_box(defect.cls, defect.box)
            return f"part {part.part_id}: boxes drawn from the synthetic ground truth"
    return "no defective part in the queue"


SIZES = ((1024, 768), (1280, 800), (1920, 1080))


def take_screenshots(config_path: Path, out_dir: Path, settle_s: float = 8.0,
                     sizes: tuple[tuple[int, int], ...] = SIZES) -> list[Path]:
    """Operator and review screens at each of ``sizes``, saved as ``hmi-<screen>-<w>x<h>.png`` in ``out_dir``."""
    app = qt_application()
    ctx = open_hmi(load_config(config_path), demo_users=True)
    pins = {name: pin for name, _, pin in DEMO_USERS}
    window = HmiWindow(ctx)
    window.resize(*sizes[0])
    window.show()
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = []
    try:
        window._login("operator", pins["operator"])
        _run_for(app, settle_s)  # live decisions and the database fill the screen
        for i, (width, height) in enumerate(sizes):
            window.resize(width, height)
            _run_for(app, 1.5)
            cards = window.operator.cards
            if len(cards) > 1 + i:  # tap "Good part" on a card: its mark, its Undo, the strip held still
                QTest.mouseClick(cards[1 + i].false_reject, Qt.LeftButton)
                _run_for(app, 0.5)
            saved.append(out_dir / f"hmi-operator-{width}x{height}.png")
            window.grab().save(str(saved[-1]))
        window.logout()
        window._login("quality", pins["quality"])
        window.open_screen("review")
        staged = _open_a_defective_part(ctx)
        log.info("review screenshot: %s", staged)
        for width, height in sizes:
            window.resize(width, height)
            _run_for(app, 1.0)
            saved.append(out_dir / f"hmi-review-{width}x{height}.png")
            window.grab().save(str(saved[-1]))
        window.logout()
    finally:
        window.close()
        ctx.close()
    return saved


def take_quality_screenshots(config_path: Path, out_dir: Path, sizes: tuple[tuple[int, int], ...] = SIZES) -> list[Path]:
    """The model page (newest package chosen, its shadow disagreements shown) and the drift page at each size."""
    app = qt_application()
    ctx = open_hmi(load_config(config_path), live=False, demo_users=True)
    pins = {name: pin for name, _, pin in DEMO_USERS}
    window = HmiWindow(ctx)
    window.resize(*sizes[0])
    window.show()
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = []
    try:
        window._login("quality", pins["quality"])
        window.open_screen("quality")
        quality = window.quality
        for width, height in sizes:
            window.resize(width, height)
            quality.open_page("models")
            models = quality.models
            if models.packages.count():
                models.packages.setCurrentRow(0)
            _run_for(app, 0.5)
            models.show_page(models.disagreement_page)
            if models.disagreements.count():
                models.disagreements.setCurrentRow(0)
            _run_for(app, 0.5)
            saved.append(out_dir / f"hmi-models-{width}x{height}.png")
            window.grab().save(str(saved[-1]))
            quality.open_page("drift")
            _run_for(app, 0.5)
            saved.append(out_dir / f"hmi-drift-{width}x{height}.png")
            window.grab().save(str(saved[-1]))
        window.logout()
    finally:
        window.close()
        ctx.close()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--settle", type=float, default=8.0, help="seconds of live events before the first screenshot")
    parser.add_argument("--quality", action="store_true", help="the model and drift pages instead of operator and review")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    taken = take_quality_screenshots(args.config, args.out) if args.quality else take_screenshots(args.config, args.out, args.settle)
    for path in taken:
        print(path)


if __name__ == "__main__":
    main()
