"""Model training (needs the ``train`` extra: ultralytics, torch, onnx)."""
