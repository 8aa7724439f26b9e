"""Per-camera trigger latency: the body's nominal shutter lag plus a fixed offset per camera.

Real bodies of one model differ by a few milliseconds between the trigger and the shutter opening (and
the same body is steady from shot to shot), which is what a trigger box's per-output delays equalise. The
offset is derived from the serial (sha256, not hash(): stable across processes), so a rerun measures the
same spread.
"""

from __future__ import annotations

import hashlib

__all__ = ["LATENCY_SPREAD_MS", "trigger_latency_ms"]

LATENCY_SPREAD_MS = 3.0  # offsets fall in -3..+3 ms around the body's nominal latency


def trigger_latency_ms(serial: str, nominal_ms: float, spread_ms: float = LATENCY_SPREAD_MS) -> float:
    """The modelled trigger-to-exposure latency of the camera with ``serial`` (milliseconds, >= 0)."""
    unit = int.from_bytes(hashlib.sha256(f"latency:{serial}".encode()).digest()[:4], "little") / 0xFFFFFFFF
    return max(0.0, nominal_ms + (2.0 * unit - 1.0) * spread_ms)
