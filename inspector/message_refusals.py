"""Why a message was refused, in the line's words: the message, the field's path, the problem, the value, all cut.

msgspec says what is wrong and where (``Expected `int` <= 9223372036854775807 - at `$.part_id```); a refusal
says it as every other refusal of the station does (``PartSeen header field part_id: must be at most
9223372036854775807, got 9223372036854775808``). Only a refused message comes here, so reading it once more with
the standard library (to show the value, and to tell a malformed JSON text from a field out of bounds) costs a
message that decoded nothing.
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

_WHERE = re.compile(r"^(?P<problem>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_FIELD = re.compile(r"^Object (?P<what>missing required|contains unknown) field `(?P<name>[^`]*)`$")
_TYPE = re.compile(r"^Expected `(?P<expected>[^`]*)`, got `(?P<got>[^`]*)`$")
_BOUND = re.compile(r"^Expected `(?P<type>[^`]*)` (?P<op>>=|<=|>|<) (?P<bound>\S+)$")
_LENGTH = re.compile(r"^Expected `array` of length (?P<n>\d+)")
_WORDS = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false", "object": "a mapping",
          "array": "a list", "null": "null"}
_BOUND_WORDS = {">=": "at least", "<=": "at most", ">": "more than", "<": "less than"}
_MISSING = object()


def refusal(cls: type, payload: bytes | memoryview | str, err: Exception) -> str:
    """The refusal of ``payload`` as a ``cls`` header, which msgspec refused with ``err``."""
    kind = cls.__name__
    try:
        data = json.loads(payload if isinstance(payload, str) else bytes(payload))
    except RecursionError:
        return f"{kind} header is nested too deeply to be a message"
    except ValueError:  # not JSON, or not UTF-8
        return clip(f"{kind} header is not valid JSON: {err}", REFUSAL_SHOWN)
    if not isinstance(err, msgspec.ValidationError):
        # the standard library reads what JSON does not have (NaN, Infinity, a lone surrogate): which field holds it
        try:
            msgspec.convert(data, cls)
        except msgspec.ValidationError as named:
            err = named
        except RecursionError:
            return f"{kind} header is nested too deeply to be a message"
        else:
            return clip(f"{kind} header is not valid JSON: {err}", REFUSAL_SHOWN)
    path, problem = field_problem(str(err), data)
    return clip(f"{kind} header field {clip(path, PATH_SHOWN) or '<root>'}: {problem}", REFUSAL_SHOWN)


def field_problem(text: str, data: Any) -> tuple[str, str]:
    """(the field's dotted path, the problem) of msgspec's ``text``; ``data`` is the refused message, read as JSON."""
    where = _WHERE.match(text)
    problem, path = where["problem"], (where["path"] or "").lstrip(".")
    value = _value_at(data, path)
    if named := _FIELD.match(problem):
        path = f"{path}.{named['name']}" if path else named["name"]
        return path, "required but missing" if named["what"] == "missing required" else "unknown key"
    if isinstance(value, float) and not math.isfinite(value):
        return path, f"expected a finite number, got {value!r}"
    if typed := _TYPE.match(problem):
        got = _shown(value) if value is not _MISSING else typed["got"]
        return path, f"expected {_words(typed['expected'])}, got {got}"
    if bound := _BOUND.match(problem):
        return path, f"must be {_BOUND_WORDS[bound['op']]} {bound['bound']}, got {_shown(value)}"
    if (length := _LENGTH.match(problem)) and isinstance(value, list):
        return path, f"expected {length['n']} items, got {len(value)}"
    if problem.startswith("Invalid enum value"):
        return path, f"not one of the values the contract allows, got {_shown(value)}"
    return path, clip(problem[:1].lower() + problem[1:], VALUE_SHOWN)


def _words(expected: str) -> str:
    return " or ".join(_WORDS.get(t, t) for t in expected.split(" | "))


def _shown(value: Any) -> str:
    return "?" if value is _MISSING else clip(repr(value), VALUE_SHOWN)


def _value_at(data: Any, path: str) -> Any:
    """The value at msgspec's ``path`` (``verdict.detections[0].score``) in ``data``; _MISSING where it cannot say."""
    for name, index in _STEP.findall(f".{path}" if path and not path.startswith("[") else path):
        try:
            data = data[name] if name else data[int(index)]
        except (KeyError, IndexError, TypeError, ValueError):
            return _MISSING
    return data
