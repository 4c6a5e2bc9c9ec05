"""Camera calibration, pixel-to-millimetre scale, image health, challenge parts."""
