"""Linear development of one RAW file with rawpy (LibRaw); see the package docstring for the settings."""

from __future__ import annotations

import io
import mmap
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import rawpy

from capturerig.develop._identify import unknown_camera_message, white_balance_problem
from capturerig.develop._opcodes import (
    PER_CHANNEL_MAP_MAX_BYTES,
    cached_vignette_gain,
    cached_vignette_gain_rgb,
    read_dng_corrections,
)

__all__ = ["RAW_SUFFIXES", "DevelopError", "Developed", "check_raw", "develop_linear", "is_raw"]

# RAW formats of the bodies studios use (LibRaw reads many more; these are the ones a folder scan picks up).
RAW_SUFFIXES = frozenset({".dng", ".cr2", ".cr3", ".nef", ".nrw", ".arw", ".raf", ".orf", ".rw2", ".pef", ".srw",
                          ".iiq", ".3fr", ".fff"})
_FULL_SCALE = 65535.0  # LibRaw's 16-bit output: (value - black) / (white - black) * 65535 with unit multipliers


class DevelopError(ValueError):
    """A RAW file LibRaw cannot read (truncated, not RAW, an unknown camera): names the file."""


@dataclass(frozen=True)
class Developed:
    """A developed RAW frame.

    Attributes
    ----------
    rgb
        (height, width, 3) float32, camera-native RGB, 0 = black level, 1 = the white level (clipped there).
    black_level, white_level
        The levels the file states (per channel black averaged: LibRaw applies each channel's own).
    as_shot_neutral
        The camera's reading of neutral grey (R, G, B), maximum 1, from its as-shot white balance.
    """

    rgb: npt.NDArray[np.float32]
    black_level: float
    white_level: int
    as_shot_neutral: npt.NDArray[np.float64]


def is_raw(path: Path) -> bool:
    """Whether ``path``'s name says it is a RAW file this package develops."""
    return path.suffix.lower() in RAW_SUFFIXES


def _open(source: Path | bytes, name: str) -> rawpy.RawPy:
    try:
        return rawpy.imread(io.BytesIO(source) if isinstance(source, bytes) else str(source))
    except rawpy.LibRawFileUnsupportedError as exc:  # a format or body this LibRaw does not know
        raise DevelopError(unknown_camera_message(name, source, "does not support this file's format or camera"))\
            from exc
    except (rawpy.LibRawError, OSError) as exc:
        raise DevelopError(f"{name}: LibRaw cannot read it as RAW ({exc}); a truncated copy or not a RAW file"
                           " - copy it again from the camera card or the session folder") from exc


# The frame kept for reuse (at most one per process, the last one made): a worker develops file after file of one
# size, and faulting a fresh frame's pages in costs more than filling them (measured, bench/develop: ~35 000
# minor faults and 70-100 ms of system time per 12 MP float32 frame, and more wall time on a loaded VM).
_kept_frame: list[mmap.mmap] = []
_kept_frame_lock = threading.Lock()  # a worker with several threads develops several files at once


def _frame_buffer(shape: tuple[int, ...]) -> npt.NDArray[np.float32]:
    """An uninitialised float32 array in an anonymous mapping without numpy's huge-page advice, the kept one
    when nothing uses it any more.

    numpy advises the kernel to back every allocation of 4 MB or more with transparent huge pages, and faulting
    in fresh huge pages can stall in the kernel (direct compaction under THP defrag ``madvise``; in a VM, memory
    the host has taken back): measured here, on a loaded VM, 0.4-1.4 s of system time for one 12 MP float32
    frame against ~0.05 s with ordinary pages, which LibRaw's own malloc'ed buffers get.

    Every array viewing a mapping holds a reference to it (through the memoryview ``np.frombuffer`` takes), so
    a kept mapping whose only references are the list's (and the count's own argument) backs no array a caller
    still holds and may be handed out again. A mapping is unmapped when the last reference to it goes.
    """
    size = int(np.prod(shape)) * 4
    if size == 0:
        return np.empty(shape, dtype=np.float32)
    with _kept_frame_lock:
        if _kept_frame and len(_kept_frame[0]) == size and sys.getrefcount(_kept_frame[0]) == 2:
            buffer = _kept_frame[0]
        else:
            flags = getattr(mmap, "MAP_PRIVATE", 0) | getattr(mmap, "MAP_ANONYMOUS", 0)  # POSIX; not on Windows
            buffer = mmap.mmap(-1, size, flags=flags) if flags else mmap.mmap(-1, size)
            _kept_frame[:] = [buffer]  # the newest is kept: the next file is most likely the same size
        # Made inside the lock: from here on the array's reference marks the mapping as in use.
        return np.frombuffer(buffer, dtype=np.float32).reshape(shape)


def develop_linear(source: Path | bytes, half_size: bool = False, name: str | None = None) -> Developed:
    """Develop ``source`` (a path or the file's bytes) linearly; ``name`` names it in errors.

    The frame (``rgb``) is the caller's for as long as any array made from it lives; after that, the next
    development of a frame of the same size may reuse its memory.

    Raises
    ------
    DevelopError
        LibRaw cannot read it, or it is not a three-colour Bayer sensor's file.
    """
    label = name or (str(source) if isinstance(source, Path) else "RAW bytes")
    with _open(source, label) as raw:
        try:
            if raw.num_colors != 3:
                raise DevelopError(f"{label}: a {raw.num_colors}-colour sensor; only RGB Bayer files are developed")
            if (unknown := white_balance_problem(raw, label, source)) is not None:
                raise DevelopError(unknown)
            rgb16 = raw.postprocess(
                gamma=(1, 1), no_auto_bright=True, output_bps=16, use_camera_wb=False, use_auto_wb=False,
                user_wb=[1.0, 1.0, 1.0, 1.0], output_color=rawpy.ColorSpace.raw, adjust_maximum_thr=0.0,
                highlight_mode=rawpy.HighlightMode.Clip, half_size=half_size,
                demosaic_algorithm=rawpy.DemosaicAlgorithm.AHD)
            wb = np.asarray(raw.camera_whitebalance[:3], dtype=np.float64)
            black = float(np.mean(raw.black_level_per_channel))
            white = int(raw.white_level)
        except rawpy.LibRawError as exc:
            raise DevelopError(f"{label}: LibRaw failed to develop it ({exc}); the file may be truncated") from exc
    neutral = np.where(wb > 0, 1.0 / np.where(wb > 0, wb, 1.0), 0.0)
    neutral = neutral / neutral.max() if neutral.max() > 0 else np.ones(3)
    corrections = read_dng_corrections(source)
    # One pass from LibRaw's 16 bits to float32 0..1 (cast, then multiply in float32), the lens's falloff folded
    # into the scale where the DNG states it (as every DNG reader must undo it).
    rgb = _frame_buffer(rgb16.shape)
    height, width = rgb16.shape[:2]
    if corrections.vignette is not None and rgb16.nbytes * 2 <= PER_CHANNEL_MAP_MAX_BYTES:
        gain = cached_vignette_gain_rgb(height, width, corrections.vignette, 1.0 / _FULL_SCALE)
        np.multiply(rgb16, gain, out=rgb, dtype=np.float32)  # no broadcast over the channels: half the time
    elif corrections.vignette is not None:
        scale = cached_vignette_gain(height, width, corrections.vignette, 1.0 / _FULL_SCALE)
        np.multiply(rgb16, scale[..., None], out=rgb, dtype=np.float32)
    else:
        np.multiply(rgb16, np.float32(1.0 / _FULL_SCALE), out=rgb, dtype=np.float32)
    return Developed(rgb=rgb, black_level=black, white_level=white, as_shot_neutral=neutral)


def check_raw(data: bytes | bytearray | memoryview, name: str) -> None:
    """Raise DevelopError unless LibRaw opens ``data`` and unpacks all of its sensor data (a truncated
    transfer fails here, before the file counts)."""
    try:
        with rawpy.imread(io.BytesIO(bytes(data))) as raw:
            raw.unpack()
            if raw.raw_image_visible.size == 0:
                raise DevelopError(f"{name}: LibRaw finds no sensor data in it")
    except rawpy.LibRawError as exc:
        raise DevelopError(f"{name}: LibRaw cannot read it as RAW ({exc}); a truncated transfer or not a RAW file")\
            from exc
