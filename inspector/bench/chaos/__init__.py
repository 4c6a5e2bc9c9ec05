"""The chaos suite (``benchmarks/chaos.py``): every fault and attack we know of; for each, nothing lost or forged.

:mod:`~inspector.bench.chaos.station` (a fresh station per case, and the watchers: restarts, the PLC's tags, frame
rings), :mod:`~inspector.bench.chaos.faults` (what is done to a running line), :mod:`~inspector.bench.chaos.images`
(image folders a folder camera replays), :mod:`~inspector.bench.chaos.line_cases` (the cases on a running line and
their count), :mod:`~inspector.bench.chaos.attacks` (the checks that need no line: model substitution and rollback,
replayed accounts, a removed audit trail), :mod:`~inspector.bench.chaos.report` (the tables).
"""
