"""Settings that moved to a new place in the station config: a file that sets one at its old place still loads.

:data:`MOVED` lists each moved setting: its old dotted path, its new one, and
the section class it now belongs to. :func:`move_old_settings` runs on the
parsed file before it is typed:

- a value at the old place is checked there (type and limits: a bad one is
  refused naming the old path, as before the move) and moved to the new place;
- one warning names every setting found at an old place and where it lives now;
- the same setting at both places with different values is refused, naming both.

A config written by Inspector (``write_config``) has every setting at its new
place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from inspector.config.families import YoloSettings
from inspector.errors import ConfigError
from inspector.typed import FieldProblem, from_dict

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MovedSetting:
    old: str  # dotted path in the station config, before the move
    new: str  # dotted path now
    section: type  # the dataclass whose field it is now: checks a value found at the old place


MOVED: tuple[MovedSetting, ...] = (
    # the YOLO family owns its settings (issue 23): they were shared detector settings before
    MovedSetting("detector.iou_threshold", "detector.families.yolo.iou_threshold", YoloSettings),
    MovedSetting("detector.min_confidence", "detector.families.yolo.min_confidence", YoloSettings),
)

_ABSENT = object()


def move_old_settings(data: Any, source: str = "station config") -> Any:
    """``data`` (a parsed config) with every moved setting at its new place; ``data`` itself is left as it is.

    ``source`` names the config in the warning (its file).
    """
    found = []
    for setting in MOVED:
        value = setting_at(data, setting.old)
        if value is _ABSENT:
            continue
        _check_at_old_place(setting, value)
        current = setting_at(data, setting.new)
        if current is not _ABSENT and current != value:
            raise ConfigError(
                setting.old,
                f"{value!r} here and {current!r} at its new place {setting.new}: the setting moved there, "
                f"keep it only there",
            )
        data = _with(_without(data, setting.old), setting.new, value)
        found.append(setting)
    if found:
        log.warning(
            "%s sets deprecated settings at their old place: %s. They still load from there; move them to the new "
            "place ('inspector config FILE' prints the config with every setting where it belongs)",
            source, "; ".join(f"{s.old} is now {s.new}" for s in found),
        )
    return data


def _check_at_old_place(setting: MovedSetting, value: Any) -> None:
    parent, _, key = setting.old.rpartition(".")
    try:
        from_dict(setting.section, {key: value}, parent)
    except FieldProblem as err:
        raise ConfigError(err.path, err.problem) from err


def setting_at(data: Any, path: str, absent: Any = _ABSENT) -> Any:
    """The value at a dotted path of a parsed config (``absent`` when a key on the way is missing)."""
    for key in path.split("."):
        if not isinstance(data, dict) or key not in data:
            return absent
        data = data[key]
    return data


def _without(data: dict, path: str) -> dict:
    """A copy of ``data`` without the (present) value at ``path``."""
    key, _, rest = path.partition(".")
    copy = dict(data)
    if rest:
        copy[key] = _without(data[key], rest)
    else:
        del copy[key]
    return copy


def _with(data: dict, path: str, value: Any) -> dict:
    """A copy of ``data`` with ``value`` at ``path``; a section missing on the way is added. A section that is not
    a mapping is left as it is: typing the config then refuses it, naming it."""
    key, _, rest = path.partition(".")
    copy = dict(data)
    if not rest:
        copy[key] = value
    elif key not in data:
        copy[key] = _with({}, rest, value)
    elif isinstance(data[key], dict):
        copy[key] = _with(data[key], rest, value)
    return copy
