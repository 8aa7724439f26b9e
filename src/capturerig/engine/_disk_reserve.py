"""The storage reserve: a session stops cleanly before a take could fill the disk, keeping what it has.

A full disk mid-take would cost the take in flight and, worse, could leave the journal unable to record the
files already written. So before each take the engine asks: after this take's files (as the body profiles
estimate them, with a margin), would the free space still be above the rig's ``storage.reserve_bytes``?
If not, the run ends at that take boundary with :class:`DiskReserveReached`, which says how much is free,
what the reserve is and which takes remain, so the technician can free space and ``resume``.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from capturerig.config import RigConfig, load_body_profile
from capturerig.plan import Take

__all__ = ["TAKE_MARGIN", "DiskReserve", "DiskReserveReached"]

TAKE_MARGIN = 1.25  # body estimates are averages; a bright, detailed frame compresses worse


def _gb(size: int) -> str:
    # MB to 0.1 below 10 GB: free space just above the reserve must not read the same as the reserve.
    return f"{size / 1e9:.2f} GB" if size >= 10_000_000_000 else f"{size / 1e6:.1f} MB"


class DiskReserveReached(RuntimeError):
    """The next take would eat into the storage reserve; the session stopped before it.

    Attributes
    ----------
    path : Path
        The session folder whose file system is short of space.
    free_bytes, reserve_bytes, take_bytes : int
        Free space now, the rig's reserve, and what the next take needs (estimate with margin).
    remaining : tuple of str
        Ids of the takes still to shoot, in plan order (the first is the one that did not start).
    """

    def __init__(self, path: Path, free_bytes: int, reserve_bytes: int, take_bytes: int,
                 remaining: Sequence[str]) -> None:
        self.path = path
        self.free_bytes = free_bytes
        self.reserve_bytes = reserve_bytes
        self.take_bytes = take_bytes
        self.remaining = tuple(remaining)
        first = self.remaining[0] if self.remaining else "none"
        super().__init__(
            f"storage reserve reached at {path}: {_gb(free_bytes)} free, the reserve is {_gb(reserve_bytes)} and "
            f"the next take needs about {_gb(take_bytes)}; stopped before take {first} with "
            f"{len(self.remaining)} take(s) remaining (every file so far is kept); free space or move older "
            f"sessions, then run `capturerig resume {path}`")


class DiskReserve:
    """Checks, before each take, that the session's disk keeps ``rig.storage.reserve_bytes`` free.

    Parameters
    ----------
    rig
        The session's rig (its reserve and its cameras' body profiles).
    base_dir
        Where the rig's relative profile paths resolve.
    session_dir
        The folder the takes are written to (its file system is the one measured).
    """

    def __init__(self, rig: RigConfig, base_dir: Path, session_dir: Path) -> None:
        self.reserve_bytes = rig.storage.reserve_bytes
        self.session_dir = session_dir
        self._bytes_per_camera = {
            camera.id: sum(load_body_profile(camera.body, base_dir).formats[fmt].bytes_estimate
                           for fmt in camera.formats)
            for camera in rig.cameras}

    def take_bytes(self, take: Take) -> int:
        """The space ``take``'s files may need: the body estimates of its cameras with a margin."""
        return int(TAKE_MARGIN * sum(self._bytes_per_camera[camera_id] for camera_id in take.cameras))

    def free_bytes(self) -> int:
        """Free space on the session folder's file system now."""
        return shutil.disk_usage(self.session_dir).free

    def check(self, take: Take, remaining: Sequence[str], in_flight: Take | None = None,
              along: Sequence[Take] = ()) -> None:
        """Return when ``take`` fits above the reserve; otherwise raise :class:`DiskReserveReached`.

        ``remaining`` lists the ids of the takes still to shoot (``take`` first), for the message;
        ``in_flight`` is a take shot but perhaps not yet stored, whose files count as already written;
        ``along`` are takes shot with it before any is stored (a burst).
        """
        need = self.take_bytes(take) + (self.take_bytes(in_flight) if in_flight is not None else 0)
        need += sum(self.take_bytes(other) for other in along)
        free = self.free_bytes()
        if free - need < self.reserve_bytes:
            raise DiskReserveReached(self.session_dir, free, self.reserve_bytes, need, remaining)
