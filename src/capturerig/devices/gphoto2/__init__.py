"""The ``gphoto2`` camera driver: libgphoto2 in one worker process per camera, with a watchdog.

The controller never imports ``gphoto2``: only the workers do (``_worker``), so a segfault or a hang in
libgphoto2 costs one take, not the session.
"""

from capturerig.devices.gphoto2._driver import GPhoto2Camera, GPhoto2Params
from capturerig.devices.gphoto2._errors import explain_gphoto2_error
from capturerig.devices.gphoto2._fire import FireBatch, FireGroup
from capturerig.devices.gphoto2._pairing import ExposureFiles
from capturerig.devices.gphoto2._widgets import SETTING_NAMES, SettingRefused, WidgetInfo, resolve_settings

__all__ = [
    "SETTING_NAMES",
    "ExposureFiles",
    "FireBatch",
    "FireGroup",
    "GPhoto2Camera",
    "GPhoto2Params",
    "SettingRefused",
    "WidgetInfo",
    "explain_gphoto2_error",
    "resolve_settings",
]
