"""Faults injected into simulated devices: at once on request, or later from a seeded schedule.

A fault is pending for ``(device_id, kind)``; the driver that owns the device consumes it at its next
opportunity (see :class:`FaultInjector` for what each kind does). A scheduled fault waits for a number of
opportunities first, so a chaos schedule can land a fault mid-session without any timing. A child process
(a controller the chaos runner may kill) loads its schedule from the JSON file ``$CAPTURERIG_SIM_FAULTS``
names, and records each fault that fires in the delivery ledger (:mod:`capturerig_sim._ledger`).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from capturerig_sim._ledger import record_fault

__all__ = ["FAULTS_ENV", "FAULT_KINDS", "FaultInjector", "FaultKind", "ScheduledFault", "load_schedule"]

FaultKind = Literal["disconnect", "busy", "slow_download", "corrupt_download", "card_full", "truncated_download",
                    "disconnect_mid_download", "slow_usb", "light_silent", "trigger_reset",
                    # A camera's pictures (capturerig_sim._image_faults): whole files the per-image checks catch.
                    "defocus", "motion_blur", "wrong_shutter", "stale_file", "silent_fixture", "late_fire",
                    "lens_cap", "bumped"]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)
FAULTS_ENV = "CAPTURERIG_SIM_FAULTS"
SLOW_USB_FACTOR = 20.0  # a camera on a failing hub or a USB 1.1 port: a twentieth of its bandwidth
SLOW_USB_STALL_S = 0.5  # and the link drops and re-enumerates first (modelled seconds)


@dataclass(frozen=True)
class ScheduledFault:
    """``device`` fails ``count`` times with ``kind`` after letting ``after`` opportunities for it pass."""

    device: str
    kind: FaultKind
    after: int = 0
    count: int = 1

    def to_json(self) -> dict[str, Any]:
        """The fault as the schedule file stores it."""
        return {"device": self.device, "kind": self.kind, "after": self.after, "count": self.count}


class FaultInjector:
    """Pending faults by ``(device_id, kind)``; thread-safe, because drivers run in the engine's threads.

    What each kind does is decided by the driver that consumes it:

    - ``disconnect``: the device's next call (any but ``close``) raises DeviceError.
    - ``busy``: a camera's next ``arm`` or ``trigger_capture`` raises DeviceError saying it is busy (a busy
      storm is many of these on many cameras).
    - ``slow_download``: a camera's next ``wait_for_files`` runs out its timeout and raises DeviceTimeout.
    - ``corrupt_download``: a camera's next downloaded file no longer decodes as JPEG.
    - ``truncated_download``: a camera's next downloaded file is cut short (it still starts like a JPEG,
      and a lenient decoder still returns an image from it).
    - ``disconnect_mid_download``: a camera's next download stops half-way with DeviceError; the files stay
      on the card.
    - ``slow_usb``: a camera's next download stalls 0.5 s (the link re-enumerates), then runs at 1/20 of its
      bandwidth: late, but within a generous timeout.
    - ``card_full``: a camera's next exposure fails with DeviceError (seen at ``wait_for_files``, or at once
      by ``trigger_capture``).
    - ``light_silent``: a light output's node stops acknowledging: its next ``wait_sent`` raises DeviceTimeout
      and the frame never reaches the fixtures.
    - ``trigger_reset``: the trigger box reboots instead of firing: its next ``fire`` raises DeviceError and
      no camera exposes (on the wire simulator the FIRE gets no reply, only ``! BOOT``, and the box's
      delays, pulse and watchdog are back to their defaults).
    - ``defocus``, ``motion_blur``, ``wrong_shutter``, ``stale_file``, ``silent_fixture``, ``late_fire``,
      ``lens_cap``, ``bumped``: a camera's next exposure arrives whole but its picture is wrong (each exposure
      is one opportunity for each of them); what each does: :mod:`capturerig_sim._image_faults`.
    """

    def __init__(self, schedule: Sequence[ScheduledFault] = ()) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, FaultKind], int] = {}
        self._waiting: dict[tuple[str, FaultKind], list[list[int]]] = {}  # [opportunities left, count]
        for fault in schedule:
            self.schedule(fault.device, fault.kind, fault.after, fault.count)

    @classmethod
    def from_env(cls) -> FaultInjector:
        """An injector holding the schedule ``$CAPTURERIG_SIM_FAULTS`` names (none when unset).

        Raises
        ------
        ValueError
            When the file cannot be read or holds a fault that is not valid (naming the file).
        """
        path = os.environ.get(FAULTS_ENV, "").strip()
        return cls(load_schedule(Path(path)) if path else ())

    def inject(self, device_id: str, kind: str, count: int = 1) -> None:
        """Make ``device_id`` fail ``count`` more times with ``kind``.

        Raises
        ------
        ValueError
            When ``kind`` is not one of :data:`FAULT_KINDS` or ``count`` is below 1.
        """
        self.schedule(device_id, kind, 0, count)

    def schedule(self, device_id: str, kind: str, after: int, count: int = 1) -> None:
        """Make ``device_id`` fail ``count`` times with ``kind`` once ``after`` opportunities for it passed.

        Raises
        ------
        ValueError
            For an unknown kind, a count below 1 or a negative ``after``.
        """
        if count < 1:
            raise ValueError(f"fault count must be at least 1, got {count}")
        if after < 0:
            raise ValueError(f"a fault cannot wait a negative number of opportunities ({after})")
        key = (device_id, _as_kind(kind))
        with self._lock:
            if after == 0:
                self._pending[key] = self._pending.get(key, 0) + count
            else:
                self._waiting.setdefault(key, []).append([after, count])

    def take(self, device_id: str, kind: FaultKind) -> bool:
        """Consume one pending ``kind`` fault of ``device_id``; True when one was pending."""
        key = (device_id, kind)
        with self._lock:
            self._tick(key)
            left = self._pending.get(key, 0)
            if left <= 0:
                return False
            if left == 1:
                del self._pending[key]
            else:
                self._pending[key] = left - 1
        record_fault(device_id, kind)
        return True

    def _tick(self, key: tuple[str, FaultKind]) -> None:
        """One opportunity passed for ``key``: scheduled faults whose wait is over become pending."""
        waiting = self._waiting.get(key)
        if not waiting:
            return
        for entry in waiting:
            entry[0] -= 1
        due = sum(count for left, count in waiting if left < 0)
        if due:
            self._pending[key] = self._pending.get(key, 0) + due
            waiting[:] = [entry for entry in waiting if entry[0] >= 0]

    def pending(self) -> dict[tuple[str, str], int]:
        """Faults due now: ``(device_id, kind) -> count`` (scheduled ones still waiting are not listed)."""
        with self._lock:
            return {key: count for key, count in self._pending.items()}

    def scheduled(self) -> dict[tuple[str, str], int]:
        """Faults still waiting for their opportunity: ``(device_id, kind) -> count``."""
        with self._lock:
            return {key: sum(count for _, count in entries) for key, entries in self._waiting.items() if entries}

    def clear(self) -> None:
        """Drop every pending and scheduled fault."""
        with self._lock:
            self._pending.clear()
            self._waiting.clear()


def load_schedule(path: Path) -> list[ScheduledFault]:
    """Read a fault schedule: ``{"faults": [{"device", "kind", "after", "count"}, ...]}``.

    Raises
    ------
    ValueError
        Naming the file and the entry that cannot be used.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the fault schedule: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}: the fault schedule is not JSON: {exc.msg}") from exc
    entries = document.get("faults") if isinstance(document, Mapping) else None
    if not isinstance(entries, list):
        raise ValueError(f"{path}: a fault schedule is an object with a list 'faults'")
    faults = []
    for index, entry in enumerate(entries):
        try:
            if not isinstance(entry, Mapping):
                raise ValueError("must be an object")
            fault = ScheduledFault(str(entry["device"]), _as_kind(str(entry["kind"])), int(entry.get("after", 0)),
                                   int(entry.get("count", 1)))
            if fault.count < 1 or fault.after < 0:
                raise ValueError("needs count >= 1 and after >= 0")
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: faults[{index}]: {exc}") from exc
        faults.append(fault)
    return faults


def _as_kind(kind: str) -> FaultKind:
    for known in FAULT_KINDS:
        if known == kind:
            return known
    raise ValueError(f"unknown fault kind '{kind}' (known: {', '.join(FAULT_KINDS)})")
