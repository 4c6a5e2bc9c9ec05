"""What machine a benchmark ran on (kept here for the scripts; it lives in :mod:`inspector.bench.machine`)."""

from inspector.bench.machine import cpu_model, machine_record

__all__ = ["cpu_model", "machine_record"]
