"""Values cut to a size a log line, an alarm or a PLC tag can hold."""

from __future__ import annotations

CLIP_DEFAULT = 300


def clip(value: object, limit: int = CLIP_DEFAULT) -> str:
    """``value`` as text, cut to ``limit`` characters with how much was left out ("… (+12345 chars)")."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… (+{len(text) - limit} chars)"
