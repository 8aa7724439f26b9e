"""Device protocols and the driver registry."""

from capturerig.devices._frame_clock import MAX_DMX_RATE_HZ, FrameClock, SendRecord
from capturerig.devices._registry import (
    DEVICE_KINDS,
    DriverContext,
    available_drivers,
    create_camera,
    create_light_output,
    create_trigger,
    create_turntable,
)
from capturerig.devices.protocols import (
    Camera,
    CameraFile,
    CameraStatus,
    DeviceError,
    DeviceTimeout,
    LightOutput,
    PreparedTrigger,
    TriggerBox,
    Turntable,
)

__all__ = [
    "DEVICE_KINDS",
    "MAX_DMX_RATE_HZ",
    "Camera",
    "CameraFile",
    "CameraStatus",
    "DeviceError",
    "DeviceTimeout",
    "DriverContext",
    "FrameClock",
    "LightOutput",
    "PreparedTrigger",
    "SendRecord",
    "TriggerBox",
    "Turntable",
    "available_drivers",
    "create_camera",
    "create_light_output",
    "create_trigger",
    "create_turntable",
]
