"""What the checks remember of each camera: its earlier images (and calibration captures), kept small."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from capturerig.qc._measure import ImageStats

__all__ = ["CameraHistory", "Seen"]


@dataclass(frozen=True)
class Seen:
    """One earlier image of a camera: which take, lighting state and station (None: not known), its figures."""

    path: str
    take_id: str
    light_id: str | None
    station: str | None
    stats: ImageStats


class CameraHistory:
    """A camera's (one format's) earlier images, newest last, at most ``size`` of them; every SHA-256 it ever
    delivered is kept (a 64-character string per file: cheap, and a stale file may be an old one).

    ``hashes`` shares that memory between histories of one camera (its subject images and its clean plates are
    two baselines, but a file handed over again is stale whichever scene it first showed).
    """

    def __init__(self, size: int, hashes: dict[str, str] | None = None) -> None:
        self._seen: deque[Seen] = deque(maxlen=size)
        self._hashes: dict[str, str] = {} if hashes is None else hashes  # sha256 -> the first path that had it

    def add(self, seen: Seen) -> None:
        """Remember ``seen`` (the oldest image drops out past the size)."""
        self._seen.append(seen)
        self._hashes.setdefault(seen.stats.sha256, seen.path)

    def note_hash(self, sha256: str, path: str) -> None:
        """Remember a delivered file's hash only (an image that failed a check stays out of the baselines)."""
        self._hashes.setdefault(sha256, path)

    def delivered(self, sha256: str) -> str | None:
        """The earlier file with these bytes, if the camera delivered one."""
        return self._hashes.get(sha256)

    def __iter__(self) -> Iterator[Seen]:
        return iter(self._seen)

    def __len__(self) -> int:
        return len(self._seen)

    def like(self, light_id: str | None, station: str | None) -> tuple[list[Seen], bool]:
        """Earlier images of the same lighting state at the same station (and True), else of the same state at
        other stations (and False: the subject turned, so its figures compare only roughly)."""
        same_light = [seen for seen in self._seen if seen.light_id == light_id]
        same_place = [seen for seen in same_light if seen.station == station]
        return (same_place, True) if same_place else (same_light, False)

    def at_station(self, station: str | None) -> Iterable[Seen]:
        """Earlier images at ``station`` (the subject turned the same way), newest first."""
        return (seen for seen in reversed(self._seen) if seen.station == station)
