"""Publishing to the plant, off the decision path: MQTT unified namespace, fleet status, Prometheus metrics."""
