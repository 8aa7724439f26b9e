"""Software trigger without a trigger box: every armed camera fires behind one barrier.

The engine arms the cameras, then calls ``trigger_capture`` on each in turn. Each call only marks the
camera; when the last armed camera is marked, the group encodes every camera's "fire now" message first
and then writes them to the workers back to back (one pipe write each, microseconds apart), so the
spread does not grow with how long the engine takes between calls. The dispatch spread (first to last
write) and the receipt spread (as the workers stamped the message) are kept per batch
(``bench/gphoto2_fire.py`` prints both).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Dispatcher", "FireBatch", "FireGroup", "fire_group"]

# A camera's dispatcher prepares its message and returns the function that sends it (a single write).
Dispatcher = Callable[[], Callable[[], None]]


@dataclass
class FireBatch:
    """One "fire now" dispatch to a set of cameras (times: ``time.perf_counter`` and ``time.time``)."""

    sent_at: dict[str, float] = field(default_factory=dict)
    received_at: dict[str, float] = field(default_factory=dict)

    @property
    def dispatch_spread_s(self) -> float:
        """Seconds between the first and the last fire message leaving the controller."""
        return max(self.sent_at.values()) - min(self.sent_at.values()) if self.sent_at else 0.0

    @property
    def receipt_spread_s(self) -> float | None:
        """Seconds between the first and the last worker reading it (None until every worker reported)."""
        if not self.sent_at or set(self.received_at) != set(self.sent_at):
            return None
        return max(self.received_at.values()) - min(self.received_at.values())


class FireGroup:
    """The cameras of one rig (one DriverContext) that fire together."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: dict[str, Dispatcher] = {}
        self._triggered: set[str] = set()
        self.history: deque[FireBatch] = deque(maxlen=1000)
        self.batch_of: dict[str, FireBatch] = {}

    def arm(self, camera_id: str, dispatch: Dispatcher) -> None:
        """``camera_id`` takes part in the next batch; ``dispatch`` sends its "fire now" message."""
        with self._lock:
            self._armed[camera_id] = dispatch
            self._triggered.discard(camera_id)

    def trigger(self, camera_id: str, dispatch: Dispatcher) -> None:
        """Mark ``camera_id``; the batch goes out when every armed camera is marked."""
        with self._lock:
            if camera_id not in self._armed:
                self._armed[camera_id] = dispatch  # fired without arm: a batch of its own, now
                self._triggered.add(camera_id)
                self._dispatch_locked([camera_id])
                return
            self._triggered.add(camera_id)
            if self._triggered >= set(self._armed):
                self._dispatch_locked(list(self._armed))

    def withdraw(self, camera_id: str) -> None:
        """``camera_id`` leaves the pending batch without sending anything (the engine fires it itself)."""
        with self._lock:
            self._armed.pop(camera_id, None)
            self._triggered.discard(camera_id)

    def flush(self, camera_id: str) -> None:
        """Send the batch ``camera_id`` waits in now (some armed camera was never triggered)."""
        with self._lock:
            if camera_id in self._triggered:
                self._dispatch_locked([c for c in self._armed if c in self._triggered])

    def leave(self, camera_id: str) -> None:
        """A closed camera no longer holds the others back."""
        with self._lock:
            self._armed.pop(camera_id, None)
            self._triggered.discard(camera_id)
            if self._triggered and self._triggered >= set(self._armed):
                self._dispatch_locked(list(self._armed))

    def received(self, camera_id: str, at: float) -> None:
        """Record when ``camera_id``'s worker read its fire message."""
        with self._lock:
            batch = self.batch_of.get(camera_id)
            if batch is not None:
                batch.received_at[camera_id] = at

    def _dispatch_locked(self, camera_ids: list[str]) -> None:
        batch = FireBatch()
        sends = [(camera_id, self._armed.pop(camera_id)()) for camera_id in camera_ids]
        for camera_id, send in sends:
            send()
            batch.sent_at[camera_id] = time.perf_counter()
        for camera_id in camera_ids:
            self._triggered.discard(camera_id)
            self.batch_of[camera_id] = batch
        self.history.append(batch)


_GROUPS: dict[int, FireGroup] = {}
_GROUPS_LOCK = threading.Lock()


def fire_group(key: object) -> FireGroup:
    """The group shared by every camera created with the same driver context object."""
    with _GROUPS_LOCK:
        return _GROUPS.setdefault(id(key), FireGroup())
