"""``inspector bench``: does the line meet its budget on this target, and how fast is each part of it.

Modules: :mod:`~inspector.bench.stats` (percentiles, line hops),
:mod:`~inspector.bench.machine` (what ran where), :mod:`~inspector.bench.engine`
(per-provider stage latency, batch and thread throughput, idle gap),
:mod:`~inspector.bench.batching` (a dynamic-batch copy of a model),
:mod:`~inspector.bench.prototype` (ultralytics' predict on the same frames),
:mod:`~inspector.bench.line` (trigger-to-PLC-write latency and the soak),
:mod:`~inspector.bench.int8` (static quantization and its accuracy cost),
:mod:`~inspector.bench.report` (JSON, Markdown, histogram).
"""
