"""What a take's shooting hands on: a Shot (files in memory, per camera) and the failure of an attempt."""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass

from capturerig.devices import CameraFile
from capturerig.engine._events import FileStored, TriggerDispatched
from capturerig.plan import Take

__all__ = ["CameraResult", "Shot", "Stored", "TakeAttemptFailed", "sleep_until"]

Stored = tuple[list[FileStored], str | None]  # the files stored (to journal) and an error, if one failed


class TakeAttemptFailed(RuntimeError):
    """An attempt at a take did not yield every expected file; ``errors`` maps device id -> reason."""

    def __init__(self, take_id: str, errors: dict[str, str], journalled: dict[str, list[str]] | None = None) -> None:
        self.take_id = take_id
        self.errors = errors
        # Per camera, the card names of the files this attempt did store and journal: they count, so they may be
        # cleared from the cards (and a capture host's spool) like a verified take's.
        self.journalled = journalled or {}
        # A device's own error already starts with its id: said once.
        detail = "; ".join(f"{device}: {reason.removeprefix(f'{device}: ')}"
                           for device, reason in sorted(errors.items()))
        super().__init__(f"take {take_id}: {detail}")


@dataclass(frozen=True)
class CameraResult:
    camera_id: str
    files: list[CameraFile]  # as downloaded, in memory
    error: str | None  # what went wrong arming, firing or downloading
    storing: Future[Stored] | None = None  # the files' storing, started as they arrived (else by verify)


@dataclass(frozen=True)
class Shot:
    """A take whose cameras have all delivered (or failed): its files are in memory, not yet stored."""

    take: Take
    attempt: int
    total: int
    started: float  # time.monotonic() at TakeStarted
    results: dict[str, CameraResult]
    lights_dropped: bool  # the lights were put safe before every exposure was over
    needed: int  # cameras that must deliver (the plan's coverage)
    # Journalled with the files (one transaction, off the next take's path); None: never fired (a burst
    # that ended before this state).
    triggered: TriggerDispatched | None

    @property
    def doomed(self) -> bool:
        """Already known to fail (devices failed or the lights dropped): its retry need not wait for storage."""
        delivered = sum(1 for r in self.results.values() if r.error is None)
        return self.lights_dropped or delivered < self.needed


def sleep_until(deadline: float) -> None:
    """Sleep to a time.monotonic() deadline; at once if it has passed (short sleeps at the end: one long sleep
    overshoots by the scheduler's tick)."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0.0:
            return
        time.sleep(left if left < 0.002 else left - 0.001)
