"""The line's event stream as the HMI reads it: the observers' subscription (:mod:`inspector.observer_feed`).

The OPC UA server holds the same subscription, so it lives below both.
"""

from inspector.observer_feed import EventFeed

__all__ = ["EventFeed"]
