"""Why a message was refused, in the line's words: the message, the field's path, the problem, the value, all cut.

msgspec says what is wrong and where (``Expected `int` <= 9223372036854775807 - at `$.part_id```); a refusal
says it as every other refusal of the station does (``PartSeen header field part_id: must be at most
9223372036854775807, got 9223372036854775808``). Only a refused message comes here: it is read once more, as plain
JSON, to show the value (msgspec first; the standard library only for what JSON does not have, NaN, Infinity or a
lone surrogate, to name the field that holds it), which costs about what decoding every message cost before.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import msgspec

from inspector.bounded import clip

VALUE_SHOWN = 120  # characters of a refused value: enough to recognise it, never a whole message
PATH_SHOWN = 200
REFUSAL_SHOWN = 500
NEAR = 24  # characters shown either side of where a JSON text goes wrong

_WHERE = re.compile(r"^(?P<problem>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_FIELD = re.compile(r"^Object (?P<what>missing required|contains unknown) field `(?P<name>[^`]*)`$")
_TYPE = re.compile(r"^Expected `(?P<expected>[^`]*)`, got `(?P<got>[^`]*)`$")
_BOUND = re.compile(r"^Expected `(?P<type>[^`]*)` (?P<op>>=|<=|>|<) (?P<bound>\S+)$")
_LENGTH = re.compile(r"^Expected `array` of length (?P<n>\d+)")
_WORDS = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false", "object": "a mapping",
          "array": "a list", "null": "null"}
_BOUND_WORDS = {">=": "at least", "<=": "at most", ">": "more than", "<": "less than"}
_BYTE = re.compile(r"\(byte (\d+)\)")
_MISSING = object()


def refusal(cls: type, payload: bytes | memoryview | str, err: Exception) -> str:
    """The refusal of ``payload`` as a ``cls`` header, which msgspec refused with ``err``; never raises."""
    try:
        return _refusal(cls, payload, err)
    except Exception:  # noqa: BLE001 - saying why must not fail where refusing did not: msgspec's own words then
        return clip(f"{cls.__name__} header refused: {err}", REFUSAL_SHOWN)


def _refusal(cls: type, payload: bytes | memoryview | str, err: Exception) -> str:
    kind = cls.__name__
    text = payload.encode(errors="replace") if isinstance(payload, str) else bytes(payload)
    try:
        data = _read(text)
    except RecursionError:
        return f"{kind} header is nested too deeply to be a message"
    except ValueError:  # not JSON, or not UTF-8
        return clip(f"{kind} header is not valid JSON: {err}{_near(text, err)}", REFUSAL_SHOWN)
    if not isinstance(err, msgspec.ValidationError):
        # the standard library reads what JSON does not have (NaN, Infinity, a lone surrogate): which field holds it
        try:
            msgspec.convert(data, cls)
        except msgspec.ValidationError as named:
            err = named
        except RecursionError:
            return f"{kind} header is nested too deeply to be a message"
        else:
            return clip(f"{kind} header is not valid JSON: {err}{_near(text, err)}", REFUSAL_SHOWN)
    path, problem = field_problem(str(err), data, cls)
    return clip(f"{kind} header field {clip(path, PATH_SHOWN) or '<root>'}: {problem}", REFUSAL_SHOWN)


def _read(text: bytes) -> Any:
    """``text`` as plain JSON values: by msgspec, else by the standard library (which takes NaN and Infinity)."""
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return json.loads(text)


def field_problem(text: str, data: Any, cls: type) -> tuple[str, str]:
    """(the field's dotted path, the problem) of msgspec's ``text``; ``data`` is the refused ``cls``, read as JSON."""
    where = _WHERE.match(text)
    problem, path = where["problem"], (where["path"] or "").lstrip(".")
    if "[...]" in path:
        path = _with_key(cls, data, path)
    value = _value_at(data, path)
    if named := _FIELD.match(problem):
        path = f"{path}.{named['name']}" if path else named["name"]
        return path, "required but missing" if named["what"] == "missing required" else "unknown key"
    if isinstance(value, float) and not math.isfinite(value):
        return path, f"expected a finite number, got {value!r}"
    if typed := _TYPE.match(problem):
        got = clip(repr(value), VALUE_SHOWN) if value is not _MISSING else typed["got"]
        return path, f"expected {_words(typed['expected'])}, got {got}"
    if bound := _BOUND.match(problem):
        return path, f"must be {_BOUND_WORDS[bound['op']]} {bound['bound']}{_got(value)}"
    if (length := _LENGTH.match(problem)) and isinstance(value, list):
        return path, f"expected {length['n']} items, got {len(value)}"
    if problem.startswith("Invalid enum value"):
        return path, f"not one of the values the contract allows{_got(value) or problem[len('Invalid enum value'):]}"
    return path, clip(problem[:1].lower() + problem[1:], VALUE_SHOWN)


def _with_key(cls: type, data: Any, path: str) -> str:
    """msgspec names a mapping's value ``timings_ms[...]``: which key it is, found by trying the keys one at a time."""
    steps = _STEP.findall(_dotted(path.partition("[...]")[0]))
    parent = _value_at(data, "".join(f".{n}" if n else f"[{i}]" for n, i in steps[:-1]).lstrip("."))
    if not steps or not steps[-1][0] or not isinstance(parent, dict) or not isinstance(parent.get(steps[-1][0]), dict):
        return path
    name, whole = steps[-1][0], parent[steps[-1][0]]
    try:
        for key, value in whole.items():
            parent[name] = {key: value}
            try:
                msgspec.convert(data, cls)
            except msgspec.ValidationError as err:
                if "[...]" in str(err):
                    return path.replace("[...]", f".{key}", 1)
    finally:
        parent[name] = whole
    return path


def _words(expected: str) -> str:
    return " or ".join(_WORDS.get(t, t) for t in expected.split(" | "))


def _got(value: Any) -> str:
    return "" if value is _MISSING else f", got {clip(repr(value), VALUE_SHOWN)}"


def _near(text: bytes, err: Exception) -> str:
    """Where a JSON text goes wrong (msgspec names the byte): the text around it."""
    at = _BYTE.search(str(err))
    if at is None:
        return ""
    byte = int(at[1])
    return f", near {text[max(0, byte - NEAR):byte + NEAR].decode(errors='replace')!r}"


def _value_at(data: Any, path: str) -> Any:
    """The value at msgspec's ``path`` (``verdict.detections[0].score``) in ``data``; _MISSING where it cannot say."""
    for name, index in _STEP.findall(_dotted(path)):
        try:
            data = data[name] if name else data[int(index)]
        except (KeyError, IndexError, TypeError, ValueError):
            return _MISSING
    return data


def _dotted(path: str) -> str:
    return f".{path}" if path and not path.startswith("[") else path
