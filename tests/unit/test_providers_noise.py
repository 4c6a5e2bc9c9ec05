"""A machine without a GPU gets one warning line about it, not ONNX Runtime's screenful of errors."""

from __future__ import annotations

import subprocess
import sys

from inspector.config import DEFAULT_CONFIG, load_config

SCRIPT = """
import logging, sys
logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(message)s")
from inspector.config import DEFAULT_CONFIG, load_config
from inspector.engine.providers import create_session
detector = load_config(DEFAULT_CONFIG).detector
session = create_session(detector.model, detector.providers)
print(session.get_providers()[0])
"""


def test_the_default_providers_load_without_onnx_runtime_errors_and_a_cpu_fallback_says_why_once():
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "[E:onnxruntime" not in run.stderr and "EP Error" not in run.stderr and "[W:onnxruntime" not in run.stderr
    warnings = [line for line in run.stderr.splitlines() if line.startswith("WARNING")]
    if run.stdout.strip() == "CPUExecutionProvider":
        (line,) = warnings
        assert line.startswith("WARNING running on the CPU: no GPU/NPU execution provider of")
        configured = load_config(DEFAULT_CONFIG).detector.providers
        assert all(name in line for name in configured)
    else:
        assert warnings == [], "an accelerator was used: nothing to warn about"
