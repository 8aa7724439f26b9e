"""Device protocols and the driver registry."""

from capturerig.config import MAX_DMX_RATE_HZ  # re-exported: drivers' public ceiling, defined with the DMX facts
from capturerig.devices._frame_clock import FrameClock, SendRecord
from capturerig.devices._registry import (
    DEVICE_KINDS,
    DriverContext,
    available_drivers,
    create_camera,
    create_light_output,
    create_trigger,
    create_turntable,
)
from capturerig.devices._send_once import send_frames_once
from capturerig.devices.protocols import (
    CAPABILITIES,
    KIND_PROTOCOLS,
    AlarmUnlock,
    Camera,
    CameraFile,
    CameraStatus,
    DeviceError,
    DeviceTimeout,
    LightOutput,
    PreparedTrigger,
    SyncReadBack,
    TriggerBox,
    TriggerDelays,
    TriggerOutputs,
    Turntable,
)

__all__ = [
    "CAPABILITIES",
    "DEVICE_KINDS",
    "KIND_PROTOCOLS",
    "MAX_DMX_RATE_HZ",
    "AlarmUnlock",
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
    "SyncReadBack",
    "TriggerBox",
    "TriggerDelays",
    "TriggerOutputs",
    "Turntable",
    "available_drivers",
    "create_camera",
    "create_light_output",
    "create_trigger",
    "create_turntable",
    "send_frames_once",
]
