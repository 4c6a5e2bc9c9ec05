"""The detector engine: ONNX Runtime inference, YOLO decoding and decision rules.

The same engine serves the line, ``inspector evaluate`` and the benchmarks, so
what is measured is what runs.
"""
