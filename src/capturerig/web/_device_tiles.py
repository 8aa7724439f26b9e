"""What the device board (:class:`capturerig.web._views.DeviceBoard`) reads out of single messages.

Kept apart from the board so each reading is a small pure function: a preflight row's verdict, a trigger
fire's measured sync, whether a stored file is an image the panel can show.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from capturerig.config import RigConfig
from capturerig.engine import NOT_MEASURED, preflight_verdict
from capturerig.engine import SYNC_CHECK as SYNC_DEVICE

__all__ = ["NOT_MEASURED", "SYNC_DEVICE", "RigDeviceIds", "is_shown_image", "preflight_verdict", "rig_device_ids",
           "trigger_fire"]

RigDeviceIds = Mapping[str, Mapping[str, str | None]]  # rig id -> {"trigger": id or None, "turntable": id or None}

_SHOWN_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff"})  # what the thumbnailer (OpenCV) decodes


def rig_device_ids(rigs: Mapping[str, RigConfig]) -> dict[str, dict[str, str | None]]:
    """Each rig's trigger box and turntable ids (None: the rig has none), for the board's tiles."""
    return {rig_id: {"trigger": rig.trigger.id if rig.trigger else None,
                     "turntable": rig.turntable.id if rig.turntable else None} for rig_id, rig in rigs.items()}


def is_shown_image(path: str) -> bool:
    """A file the panel can show as a camera's last image (JPEG and the like, not RAW)."""
    return PurePosixPath(path).suffix.lower() in _SHOWN_SUFFIXES


def trigger_fire(message: Mapping[str, Any]) -> dict[str, Any]:
    """A ``TriggerDispatched`` message as the trigger tile shows it: when, how, and the measured sync.

    ``latency_s`` (trigger to exposure, per camera that reported one) gives the measured exposure spread
    (slowest minus fastest); ``spread_s`` is what the trigger itself spread (output delays or software calls).
    """
    latency = {camera: float(seconds) for camera, seconds in (message.get("latency_s") or {}).items()}
    values = sorted(latency.values())
    return {
        "take": message.get("take_id"), "attempt": message.get("attempt"), "mode": message.get("mode"),
        "at": message.get("fired_at", message.get("at")), "cameras": len(message.get("per_camera") or {}),
        "trigger_spread_ms": round(float(message.get("spread_s", 0.0)) * 1e3, 3),
        "measured": len(values),
        "exposure_spread_ms": round((values[-1] - values[0]) * 1e3, 3) if len(values) > 1 else None,
        "latency_median_ms": round(statistics.median(values) * 1e3, 3) if values else None,
        "slowest": max(latency, key=lambda camera: latency[camera]) if latency else None,
    }
