"""Build typed dataclasses from plain dicts (parsed YAML or JSON), strictly.

Used by the config loader and the station's other typed files (model
metadata, training runs, calibration records): unknown keys, missing required
keys, values of the wrong type, and values outside a field's declared limits
are refused. Every problem is reported as a :class:`FieldProblem` carrying the
dotted path of the offending field. (The line's messages are msgspec Structs,
decoded by :mod:`inspector.messages`, and refused in the same words.)

Field limits and documentation live in the field's metadata, set with
:func:`spec`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from typing import Any, Callable, Literal, TypeVar, Union

from inspector.bounded import clip

T = TypeVar("T")


VALUE_SHOWN = 120  # characters of a refused value in a problem's text: enough to recognise it, never a whole message
PATH_SHOWN = 200
PROBLEM_SHOWN = 400


class FieldProblem(ValueError):
    """A value that does not fit its field; ``path`` is the dotted field path (both cut to a bounded length:
    the text ends up in logs and alarms, and the value may be megabytes a sender got wrong)."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = clip(path, PATH_SHOWN)
        self.problem = clip(problem, PROBLEM_SHOWN)
        super().__init__(f"{self.path or '<root>'}: {self.problem}")


def _shown(value: Any) -> str:
    """A refused value as a problem's text shows it: its repr, cut."""
    return clip(repr(value), VALUE_SHOWN)


def spec(
    default: Any = dataclasses.MISSING,
    *,
    doc: str,
    minimum: float | None = None,
    maximum: float | None = None,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """A dataclass field with documentation and optional numeric limits."""
    metadata = {"doc": doc, "minimum": minimum, "maximum": maximum}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@functools.lru_cache(maxsize=None)
def _fields(cls: type) -> tuple[dataclasses.Field, ...]:
    return dataclasses.fields(cls)


@functools.lru_cache(maxsize=None)
def _field_names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in _fields(cls))


def from_dict(cls: type[T], data: Any, path: str = "") -> T:
    """Convert ``data`` to dataclass ``cls``; raise :class:`FieldProblem` if it does not fit."""
    if not isinstance(data, dict):
        raise FieldProblem(path, f"expected a mapping, got {type(data).__name__}")
    fields = _fields(cls)
    known = _field_names(cls)
    if not known.issuperset(data):
        unknown = sorted(str(k) for k in set(data) - known)  # YAML keys may be bools or numbers
        where = f"{path}." if path else ""
        raise FieldProblem(
            f"{where}{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(known)) or 'none'})"
        )
    hints = _hints(cls)
    values = {}
    for f in fields:
        field_path = f"{path}.{f.name}" if path else f.name
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise FieldProblem(field_path, "required but missing")
            continue
        value = convert(hints[f.name], data[f.name], field_path)
        _check_limits(f, value, field_path)
        values[f.name] = value
    return cls(**values)


def _check_limits(f: dataclasses.Field, value: Any, path: str) -> None:
    lo, hi = f.metadata.get("minimum"), f.metadata.get("maximum")
    if value is None or not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    if lo is not None and value < lo:
        raise FieldProblem(path, f"must be at least {lo}, got {_shown(value)}")
    if hi is not None and value > hi:
        raise FieldProblem(path, f"must be at most {hi}, got {_shown(value)}")


_SCALARS = frozenset({bool, int, float, str})


@functools.lru_cache(maxsize=None)
def _shape(tp: Any) -> tuple[Any, tuple[Any, ...], bool]:
    """``tp``'s origin, its arguments, and whether it is a dataclass (asked once per type)."""
    return typing.get_origin(tp), typing.get_args(tp), dataclasses.is_dataclass(tp)


def convert(tp: Any, value: Any, path: str) -> Any:
    """Convert one value to type ``tp`` (the subset of typing the project uses)."""
    if tp in _SCALARS:
        return _convert_scalar(tp, value, path)
    if tp is Any:
        return value
    origin, args, is_dataclass = _shape(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        candidates = [a for a in args if a is not type(None)]
        if len(candidates) == 1:  # Optional[X]: X's own problem, with its own (deeper) path
            return convert(candidates[0], value, path)
        problems = []
        for arg in candidates:
            try:
                return convert(arg, value, path)
            except FieldProblem as err:
                problems.append(err.problem)
        raise FieldProblem(path, "; ".join(problems))
    if origin is Literal:
        if value not in args:
            raise FieldProblem(path, f"must be one of {', '.join(map(repr, args))}, got {_shown(value)}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise FieldProblem(path, f"expected a list, got {type(value).__name__}")
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise FieldProblem(path, f"expected {len(args)} items, got {len(value)}")
            return tuple(convert(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        item = args[0]
        items = [convert(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        key_t, val_t = args
        if not isinstance(value, dict):
            raise FieldProblem(path, f"expected a mapping, got {type(value).__name__}")
        return {convert(key_t, k, path): convert(val_t, v, f"{path}.{k}") for k, v in value.items()}
    if is_dataclass:
        return from_dict(tp, value, path)
    return _convert_scalar(tp, value, path)


def _convert_scalar(tp: Any, value: Any, path: str) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise FieldProblem(path, f"expected true or false, got {_shown(value)}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise FieldProblem(path, f"expected an integer, got {_shown(value)}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise FieldProblem(path, f"expected a finite number, got {_shown(value)}")
            return float(value)
        raise FieldProblem(path, f"expected a number, got {_shown(value)}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise FieldProblem(path, f"expected a string, got {_shown(value)}")
    raise TypeError(f"{path}: unsupported field type {tp!r}")  # a programming error, not bad input


def to_dict(obj: Any) -> Any:
    """The plain (JSON-ready) form of a dataclass tree."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in _fields(type(obj))}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj
