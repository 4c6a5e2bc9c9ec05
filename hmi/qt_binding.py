"""Is this Qt binding safe for an HMI that runs for months? A start-up check for the ``None`` leak.

PySide6 6.12.0 on Python 3.11 releases a reference to ``None`` it never took on
every Qt call that returns nothing (``setText``, ``setStyleSheet``,
``setChecked``, ``setVisible``, ``show``/``hide``, ``update``): the operator
screen makes thousands of those a minute, and once ``None``'s reference count
reaches zero the process aborts with ``Fatal Python error: none_dealloc``,
13 to 16 minutes after start beside a running line, leaving a black screen.
``pyproject.toml`` pins a clean release; this check catches a venv that has
another one (an upgrade by hand, a wheel cache, a distribution's package).

The HMI refuses to start on a leaking binding rather than warn: a warning is
read, if at all, after the crash it announced, while a refusal at start names
the cause and the fix while someone is at the panel, and the line itself never
depends on the HMI. It exits with ``EXIT_REFUSED``, which the supervisor does
not retry (retrying cannot help). From Python 3.12 ``None`` is immortal, its
count never falls, and the check passes: the leak is harmless there.

Qt is imported only inside the functions: the CLI imports this module cheaply.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from importlib import metadata

from hmi.roles import HmiError

log = logging.getLogger(__name__)

SELF_CHECK_CALLS = 200  # a few ms at start; a leaking binding loses 200 references, a sound one none
LEAK_TOLERANCE = 20  # references to None the check's calls may lose before the binding counts as leaking
BINDING_PACKAGE = "pyside6-essentials"


@dataclass(frozen=True)
class BindingCheck:
    """What the self-check measured: how far ``sys.getrefcount(None)`` moved over ``calls`` void Qt calls."""

    version: str
    calls: int
    drift: int

    @property
    def leaking(self) -> bool:
        return self.drift < -LEAK_TOLERANCE

    def problem(self) -> str:
        """Why the HMI must not run on this binding, and what to install instead ('' when it may)."""
        if not self.leaking:
            return ""
        return (
            f"the Qt binding PySide6 {self.version} releases a reference to None on every Qt call that returns "
            f"nothing (sys.getrefcount(None) fell by {-self.drift} over {self.calls} such calls): the HMI would abort "
            f"with 'Fatal Python error: none_dealloc' within minutes and leave a black screen; install the version "
            f"Inspector pins: {install_command()}"
        )


def pinned_requirement() -> str:
    """The binding requirement of the installed Inspector (``pyside6-essentials==6.11.3``), '' if not installed."""
    try:
        requirements = metadata.requires("inspector") or []
    except metadata.PackageNotFoundError:
        return ""
    return next((r.split(";")[0].strip() for r in requirements if r.lower().startswith(BINDING_PACKAGE)), "")


def install_command() -> str:
    pinned = pinned_requirement()
    if not pinned:
        return f"{sys.executable} -m pip install the {BINDING_PACKAGE} version pyproject.toml pins"
    return f"{sys.executable} -m pip install '{pinned}'"


def none_refcount_drift(calls: int = SELF_CHECK_CALLS) -> int:
    """How far ``sys.getrefcount(None)`` moves over ``calls`` void Qt calls on fresh widgets (a QApplication must exist).

    The calls are the kinds the HMI makes on every redraw, in turn: a label's
    text and style sheet, a button's checked state, visibility, a repaint request.
    """
    from PySide6.QtWidgets import QLabel, QPushButton

    label = QLabel()
    button = QPushButton()
    button.setCheckable(True)
    kinds = (
        lambda i: label.setText(str(i & 1)),
        lambda i: label.setStyleSheet("color: white;" if i & 1 else "color: black;"),
        lambda i: button.setChecked(bool(i & 1)),
        lambda i: label.setVisible(False),
        lambda i: label.update(),
    )
    try:
        for i, kind in enumerate(kinds):  # once each, uncounted: first calls cache what later ones reuse
            kind(i)
        before = sys.getrefcount(None)
        for i in range(calls):
            kinds[i % len(kinds)](i)
        return sys.getrefcount(None) - before
    finally:
        label.deleteLater()
        button.deleteLater()


def binding_version() -> str:
    import PySide6

    return PySide6.__version__


def check_binding(calls: int = SELF_CHECK_CALLS) -> BindingCheck:
    return BindingCheck(binding_version(), calls, none_refcount_drift(calls))


def require_sound_binding(calls: int = SELF_CHECK_CALLS) -> BindingCheck:
    """Refuse (``HmiError``) to run the HMI on a binding that leaks references to ``None``; log the check either way."""
    check = check_binding(calls)
    if check.leaking:
        raise HmiError(check.problem())
    log.info("Qt binding PySide6 %s: no reference to None lost over %d void Qt calls (moved %+d)",
             check.version, check.calls, check.drift)
    return check
