"""Helpers the tests share."""

from __future__ import annotations

import time
from typing import Callable

import pytest


def wait_until(condition: Callable[[], object], timeout_s: float, what: str, poll_s: float = 0.1):
    """Poll ``condition`` until it returns something truthy; fail the test naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll_s)
    pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {what}")
