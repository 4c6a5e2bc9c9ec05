"""Camera drivers: one module per frame source behind one interface."""

from camera_drivers.base import CameraDriver, Grab, make_driver, registered_drivers

__all__ = ["CameraDriver", "Grab", "make_driver", "registered_drivers"]
