"""The line's services; each runs as its own OS process (the list: :mod:`inspector.service_registry`)."""
