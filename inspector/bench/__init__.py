"""``inspector bench``: does the line meet its budget on this target, and how fast is each part of it.

Modules: :mod:`~inspector.bench.stats` (percentiles, line hops),
:mod:`~inspector.bench.machine` (what ran where), :mod:`~inspector.bench.engine`
(per-provider stage latency, batch and thread throughput, idle gap),
:mod:`~inspector.bench.batching` (a dynamic-batch copy of a model),
:mod:`~inspector.bench.prototype` (ultralytics' predict on the same frames),
:mod:`~inspector.bench.line` (trigger-to-PLC-write latency and the soak),
:mod:`~inspector.bench.int8` (static quantization and its accuracy cost),
:mod:`~inspector.bench.report` (JSON, Markdown, histogram).
On the running line, with hooks into it (:class:`~inspector.bench.line.LineHooks`):
:mod:`~inspector.bench.swap` (the parts around a model promotion and rollback),
:mod:`~inspector.bench.shadow_cost` (production with a shadow run on against off),
:mod:`~inspector.bench.outputs` (MQTT, OPC UA and metrics on against off), with
:mod:`~inspector.bench.ab_runs` (alternating runs and their comparison),
:mod:`~inspector.bench.bench_models` (signed copies of the station's model),
:mod:`~inspector.bench.mosquitto` (the bench's broker) and
:mod:`~inspector.bench.opcua_client` (a subscribed OPC UA client).
"""
