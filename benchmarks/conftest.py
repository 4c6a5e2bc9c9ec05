"""Benchmarks run with `make bench` (pytest-benchmark); results are recorded under benchmarks/results/."""

import os

os.environ.setdefault("YOLO_OFFLINE", "1")
