"""The line's services; each runs as its own OS process."""

SERVICE_NAMES = ("camera", "detector", "actuator", "recorder")
