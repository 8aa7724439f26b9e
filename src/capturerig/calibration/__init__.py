"""Calibration: camera geometry from ChArUco views (this package) and colour (:mod:`capturerig.calibration.colour`)."""

__all__: list[str] = []
