"""The detector engine: ONNX Runtime inference, model families as plug-ins, the one decision rule.

A family (:mod:`inspector.engine.families`: the YOLO detector, anomaly
models, segmentation heads) turns a model's raw outputs into one result; the
decision rule turns results into a verdict. The same engine serves the line,
``inspector evaluate`` and the benchmarks, so what is measured is what runs.
"""
