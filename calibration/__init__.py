"""Camera calibration, pixel-to-millimetre scale, image health, challenge parts.

- :mod:`calibration.intrinsics`: checkerboard corners, camera matrix and
  distortion (OpenCV), reprojection error, the per-camera calibration file,
  undistortion.
- :mod:`calibration.scale`: millimetres per pixel from the checkerboard's
  square size or from a reference disc of known diameter.
- :mod:`calibration.health`: focus, exposure and lighting uniformity against a
  stored reference, and a periodic checker that raises alarms.
- :mod:`calibration.challenge`: challenge parts through the real detector and
  decision rules (``inspector verify``), recorded in the audit trail, and the
  shift-start verification gate.
"""

from inspector.errors import InspectorError


class CalibrationError(InspectorError):
    """A calibration could not be computed, stored or loaded, or a verification could not run."""


__all__ = ["CalibrationError"]
