"""The tasks workers run: plain functions of paths, importable by every worker (no closures, no arrays).

A task re-reads its input and checks it against the sha256 the journal recorded, so a file changed since it
was verified is refused, not processed; outputs go to a temporary name in their folder and are renamed, so a
task retried after a worker died leaves one whole file.

A worker on a capture host offers the resource ``host-<name>`` (``dask worker ADDR --resources
"memory_mb=4000,host-<name>=1"``): :func:`develop_near` run there reads that host's kept copy of its file
(the agent's spool) when the copy's sha256 is the journal's, and the session's copy otherwise.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import tifffile
from distributed import get_worker

from capturerig.calibration.colour import ColourCalibration, load_colour
from capturerig.develop import develop_linear, linear_bgr16, linear_rgb16, neutral_srgb8
from capturerig.files import fsync_file, temporary_path

__all__ = ["HOST_RESOURCE_PREFIX", "DevelopedFile", "develop_file", "develop_near", "worker_hosts"]

HOST_RESOURCE_PREFIX = "host-"  # a worker on capture host NAME offers the resource host-NAME


@dataclass(frozen=True)
class DevelopedFile:
    """One file developed by :func:`develop_near`: its outputs, which copy it read, and where it ran."""

    outputs: dict[str, str]  # sha256 by output path
    read: Literal["host", "session"]  # the capture host's kept copy, or the session's
    source: str  # the path read
    worker: str  # the worker's address ("" when not run on a worker)
    worker_host: str | None  # the capture host (host-NAME resource) of that worker; None: a worker on no such host
    passed_over: str = ""  # why the host's kept copy was not read, when there was one to try


@functools.lru_cache(maxsize=4)
def _calibration(path: str, modified_ns: int) -> ColourCalibration:
    return load_colour(path)  # once per worker process and file version, not once per task


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_atomically(target: Path, data: bytes) -> str:
    partial = temporary_path(target)  # a worker killed mid-write leaves it: develop_session sweeps it
    partial.write_bytes(data)
    fsync_file(partial)
    os.replace(partial, target)
    return _sha256(data)


def _png(pixels: Any) -> bytes:
    ok, encoded = cv2.imencode(".png", pixels)
    if not ok:
        raise ValueError("PNG encoding failed")
    return bytes(encoded.tobytes())


def _tiff(rgb16: Any) -> bytes:

    buffer = io.BytesIO()
    tifffile.imwrite(buffer, rgb16, photometric="rgb", metadata=None)
    return buffer.getvalue()


def develop_file(source: str, expected_sha256: str, camera_id: str, out_png: str, out_tiff: str | None = None,
                 colour_json: str | None = None) -> dict[str, str]:
    """Develop one RAW file: an 8-bit sRGB PNG (colour-corrected with ``colour_json`` when given) and, with
    ``out_tiff``, a 16-bit linear TIFF (the calibration's working space, or camera RGB without one).
    Returns the sha256 of each output by path.

    Raises
    ------
    ValueError
        The file is not what the journal recorded, or it does not develop (naming it).
    """
    data = Path(source).read_bytes()
    if _sha256(data) != expected_sha256.lower():
        raise ValueError(f"{source}: its sha256 is not the one journalled when it was captured; it changed "
                         "since (restore it from the camera card or a backup)")
    return _develop_bytes(data, source, camera_id, out_png, out_tiff, colour_json)


def worker_hosts() -> tuple[str, frozenset[str]]:
    """The address of the worker running this task and the capture hosts it says it is on (its
    ``host-<name>`` resources); ``("", {})`` outside a worker."""
    try:
        worker = get_worker()
    except ValueError:  # called in a plain process: no worker, no host
        return "", frozenset()
    resources = worker.state.total_resources
    return worker.address, frozenset(r[len(HOST_RESOURCE_PREFIX):] for r, amount in resources.items()
                                     if r.startswith(HOST_RESOURCE_PREFIX) and amount > 0)


def develop_near(session_copy: str, expected_sha256: str, camera_id: str, out_png: str, out_tiff: str | None = None,
                 colour_json: str | None = None, host: str | None = None,
                 kept_copy: str | None = None) -> DevelopedFile:
    """:func:`develop_file`, reading ``kept_copy`` (a path on capture host ``host``) first when this worker is
    on that host and the copy's sha256 is the journal's, else ``session_copy``.

    Raises
    ------
    ValueError
        The session's copy, when it is the one read, is not what the journal recorded, or the file does not
        develop (naming it).
    """
    address, hosts = worker_hosts()
    here = host if host is not None and host in hosts else (",".join(sorted(hosts)) or None)
    passed_over = ""
    if kept_copy and host is not None and host in hosts:
        try:
            data = Path(kept_copy).read_bytes()
        except OSError as exc:  # deleted for room since, or the spool moved: the session's copy serves
            passed_over = f"{kept_copy} on {host}: {exc.strerror or exc}"
        else:
            if _sha256(data) == expected_sha256.lower():
                return DevelopedFile(_develop_bytes(data, kept_copy, camera_id, out_png, out_tiff, colour_json),
                                     "host", kept_copy, address, here)
            passed_over = f"{kept_copy} on {host}: its sha256 is not the journal's (altered since; not used)"
    outputs = develop_file(session_copy, expected_sha256, camera_id, out_png, out_tiff, colour_json)
    return DevelopedFile(outputs, "session", session_copy, address, here, passed_over)


def _develop_bytes(data: bytes, name: str, camera_id: str, out_png: str, out_tiff: str | None,
                   colour_json: str | None) -> dict[str, str]:
    developed = develop_linear(data, name=name)
    outputs: dict[str, str] = {}
    if colour_json:
        calibration = _calibration(colour_json, os.stat(colour_json).st_mtime_ns)
        linear16 = linear_bgr16(developed)
        srgb8 = calibration.correct(camera_id, linear16, bits=8)
        linear_rgb = np.clip(calibration.to_linear(camera_id, linear16), 0.0, 1.0) if out_tiff else None
    else:  # no calibration: the camera's own neutral as white balance (capturerig.develop.neutral_srgb8)
        srgb8 = neutral_srgb8(developed)
        linear_rgb = developed.rgb if out_tiff else None
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    outputs[out_png] = _write_atomically(Path(out_png), _png(srgb8))
    if out_tiff and linear_rgb is not None:
        Path(out_tiff).parent.mkdir(parents=True, exist_ok=True)
        outputs[out_tiff] = _write_atomically(Path(out_tiff), _tiff(linear_rgb16(linear_rgb)))
    return outputs
