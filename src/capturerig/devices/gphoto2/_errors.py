"""libgphoto2 error codes as messages an operator can act on (stdlib only: the worker imports this too)."""

from __future__ import annotations

__all__ = ["FATAL_CODES", "explain_gphoto2_error"]

# Codes after which the worker's libgphoto2 state cannot be trusted: the worker is restarted.
FATAL_CODES = frozenset({-3, -4, -7, -52, -53})

_GVFS_HINT = ("another program holds the camera's USB interface; on a Linux desktop it is usually gvfs: run "
              "`gio mount -s gphoto2` and `systemctl --user stop gvfs-gphoto2-volume-monitor` (mask it to keep "
              "it off), and close tethering programs (darktable, digiKam, Lightroom, gphoto2 --shell), then retry")

_EXPLANATIONS: dict[int, tuple[str, str]] = {
    -53: ("could not claim the camera's USB interface (GP_ERROR_IO_USB_CLAIM)", _GVFS_HINT),
    -110: ("camera busy (GP_ERROR_CAMERA_BUSY): still writing the last shot, or a menu, playback or live "
           "view is open", "wait a moment and retry; leave the camera's menus and playback"),
    -7: ("USB I/O error (GP_ERROR_IO)", "check the cable and the hub (a powered hub, no extension cables), "
         "then reconnect the camera; the worker is restarted"),
    -52: ("camera gone from USB (GP_ERROR_IO_USB_FIND)", "check that it is on, its battery and its cable; it is "
          "bound again by serial number when it comes back, on any port"),
    -105: ("camera model not found (GP_ERROR_MODEL_NOT_FOUND)", "check the camera is on and in PTP/tethering "
           "mode, not mass storage"),
    -3: ("libgphoto2 ran out of memory (GP_ERROR_NO_MEMORY)", "the camera worker is restarted; retry"),
    -10: ("camera timed out (GP_ERROR_TIMEOUT)", "check focus (use manual focus on a rig) and the cable"),
    -6: ("operation not supported by this camera (GP_ERROR_NOT_SUPPORTED)", "check the body profile"),
    -108: ("file not found on the camera (GP_ERROR_FILE_NOT_FOUND)", "it was deleted or the card was changed"),
    -115: ("camera storage full (GP_ERROR_NO_SPACE)", "download and delete files, or swap the card"),
    -60: ("camera port locked (GP_ERROR_IO_LOCK)", "another process has it open; close it and retry"),
    -113: ("the camera reported an error (GP_ERROR_CAMERA_ERROR)", "check the camera's display; power-cycle it"),
    -2: ("libgphoto2 refused a parameter (GP_ERROR_BAD_PARAMETERS)", "check the value against the camera's"),
}


def explain_gphoto2_error(code: int, library_text: str = "") -> tuple[str, str]:
    """A message and a recovery hint for a ``gphoto2.GPhoto2Error`` code.

    Parameters
    ----------
    code
        The negative libgphoto2 result code.
    library_text
        libgphoto2's own text for it, used when the code is not one we explain.
    """
    if code in _EXPLANATIONS:
        return _EXPLANATIONS[code]
    return (f"libgphoto2 error {code}: {library_text or 'unknown'}",
            "retry; if it repeats, power-cycle the camera and check its cable")
