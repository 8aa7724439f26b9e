"""Faults injected on request into simulated devices: each fires a given number of times, then clears."""

from __future__ import annotations

import threading
from typing import Literal, get_args

__all__ = ["FAULT_KINDS", "FaultInjector", "FaultKind"]

FaultKind = Literal["disconnect", "busy", "slow_download", "corrupt_download", "card_full"]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)


class FaultInjector:
    """Pending faults by ``(device_id, kind)``; thread-safe, because drivers run in the engine's threads.

    What each kind does is decided by the driver that consumes it:

    - ``disconnect``: the device's next call (any but ``close``) raises DeviceError.
    - ``busy``: a camera's next ``arm`` or ``trigger_capture`` raises DeviceError saying it is busy.
    - ``slow_download``: a camera's next ``wait_for_files`` runs out its timeout and raises DeviceTimeout.
    - ``corrupt_download``: a camera's next downloaded file no longer decodes as JPEG.
    - ``card_full``: a camera's next exposure fails with DeviceError (seen at ``wait_for_files``, or at once
      by ``trigger_capture``).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, FaultKind], int] = {}

    def inject(self, device_id: str, kind: str, count: int = 1) -> None:
        """Make ``device_id`` fail ``count`` more times with ``kind``.

        Raises
        ------
        ValueError
            When ``kind`` is not one of :data:`FAULT_KINDS` or ``count`` is below 1.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind '{kind}' (known: {', '.join(FAULT_KINDS)})")
        if count < 1:
            raise ValueError(f"fault count must be at least 1, got {count}")
        key = (device_id, _as_kind(kind))
        with self._lock:
            self._pending[key] = self._pending.get(key, 0) + count

    def take(self, device_id: str, kind: FaultKind) -> bool:
        """Consume one pending ``kind`` fault of ``device_id``; True when one was pending."""
        key = (device_id, kind)
        with self._lock:
            left = self._pending.get(key, 0)
            if left <= 0:
                return False
            if left == 1:
                del self._pending[key]
            else:
                self._pending[key] = left - 1
            return True

    def pending(self) -> dict[tuple[str, str], int]:
        """Faults still to fire: ``(device_id, kind) -> count``."""
        with self._lock:
            return {key: count for key, count in self._pending.items()}

    def clear(self) -> None:
        """Drop every pending fault."""
        with self._lock:
            self._pending.clear()


def _as_kind(kind: str) -> FaultKind:
    for known in FAULT_KINDS:
        if known == kind:
            return known
    raise ValueError(f"unknown fault kind '{kind}'")
