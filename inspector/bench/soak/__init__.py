"""The accelerated soak (``benchmarks/soak.py``): the whole station for hours at a high part rate, under a fault schedule.

:mod:`~inspector.bench.soak.settings` (what a run does), :mod:`~inspector.bench.soak.soak_config` (the station's
config), :mod:`~inspector.bench.soak.station` (the station and the plant around it: Xvfb and the HMI, Mosquitto
and a subscriber, the PLC, OPC UA and Prometheus observers), :mod:`~inspector.bench.soak.faults` (the faults),
:mod:`~inspector.bench.soak.run` (the schedule), :mod:`~inspector.bench.soak.accounting` (parts and alarms per
window, from the line's records), :mod:`~inspector.bench.soak.resources` (memory, logs, Prometheus against the
records), :mod:`~inspector.bench.soak.report` (criteria, Markdown and JSON).
"""
