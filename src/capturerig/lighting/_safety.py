"""The photosensitivity governor: no more than N flashes in any one-second window for a person.

A *flash* is a pair of opposing changes in light of at least ``threshold`` (10%) of the rig's full light
(every fixture at full), after WCAG 2.x's general flash definition. A lighting change is measured per
fixture: the light that rises (summed over fixtures whose output goes up) and the light that falls are
counted separately, so one light going off while another comes on (OLAT) is an opposing pair even when the
total stays the same; the subject's eyes see the light jump. In any window the flashes are
``min(rises, falls)``. A fixture strobing at f Hz with at least ``threshold`` of the rig's light is f
flashes per second on its own.

The default limit is 3 (WCAG); a studio may lower it (``light_safety`` in the rig); only a per-subject
photosensitivity screening (``subject.photosensitivity_override`` in the plan) raises it, and the engine
logs that override in every session that uses it.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from capturerig.config import MAX_DMX_RATE_HZ, PlanConfig, RigConfig

__all__ = [
    "FlashGovernor",
    "FlashLimit",
    "FlashViolation",
    "LightChange",
    "PhotosensitivityRefused",
    "change_between",
    "find_flash_violation",
    "flash_limit",
    "override_hint",
]

WINDOW_S = 1.0
_TIME_TOLERANCE_S = 1e-6


class PhotosensitivityRefused(RuntimeError):
    """A lighting sequence or strobe the subject must not be exposed to; the message says how to proceed."""


@dataclass(frozen=True)
class FlashLimit:
    """How many flashes are allowed in any ``window_s``; ``source`` says who set it (for messages and logs)."""

    max_flashes: int
    threshold: float = 0.1
    window_s: float = WINDOW_S
    source: str = "the WCAG general flash threshold"


def flash_limit(rig: RigConfig, plan: PlanConfig) -> FlashLimit | None:
    """The limit that applies to ``plan``'s subject on ``rig``; None for an object (no limit)."""
    subject = plan.subject
    if subject.kind == "object":
        return None
    safety = rig.light_safety
    override = subject.photosensitivity_override
    if override is not None:
        return FlashLimit(override.max_flashes_per_s, safety.flash_threshold, WINDOW_S,
                          f"the photosensitivity screening by {override.screened_by} on {override.screened_on}")
    source = "the WCAG general flash threshold" if safety.max_flashes_per_s == 3 else "the studio's light_safety"
    return FlashLimit(safety.max_flashes_per_s, safety.flash_threshold, WINDOW_S, source)


@dataclass(frozen=True)
class LightChange:
    """A change of lighting state at ``at`` seconds: light that rose and fell, as shares of the rig's full."""

    at: float
    rise: float
    fall: float
    label: str = ""

    def directions(self, threshold: float) -> tuple[bool, bool]:
        return self.rise >= threshold, self.fall >= threshold


def change_between(before: Sequence[float], after: Sequence[float], at: float, label: str = "") -> LightChange:
    """The change from per-fixture light shares ``before`` to ``after``."""
    rise = sum(max(b - a, 0.0) for a, b in zip(before, after, strict=True))
    fall = sum(max(a - b, 0.0) for a, b in zip(before, after, strict=True))
    return LightChange(at, rise, fall, label)


@dataclass(frozen=True)
class FlashViolation:
    """Where a sequence breaks the limit: the window start, the flashes in it and the changes involved."""

    start: float
    flashes: int
    changes: tuple[LightChange, ...]
    limit: FlashLimit
    strobe_hz: float = 0.0

    def describe(self) -> str:
        if self.strobe_hz:
            return (f"'{self.changes[0].label}' strobes at {self.strobe_hz:g} Hz, i.e. {self.flashes} flashes per "
                    f"second, above the limit of {self.limit.max_flashes} in any "
                    f"{self.limit.window_s:g} s set by {self.limit.source}")
        labels = " -> ".join(c.label for c in self.changes if c.label)
        return (f"the lighting sequence makes {self.flashes} flashes in the {self.limit.window_s:g} s from "
                f"{self.start:.2f} s ({labels}), above the limit of {self.limit.max_flashes} in any "
                f"{self.limit.window_s:g} s set by {self.limit.source} (a flash is a pair of opposing light "
                f"changes of at least {self.limit.threshold:.0%} of the rig's full light)")


def _flashes(changes: Sequence[LightChange], threshold: float) -> int:
    rises = sum(1 for c in changes if c.directions(threshold)[0])
    falls = sum(1 for c in changes if c.directions(threshold)[1])
    return min(rises, falls)


def find_flash_violation(changes: Sequence[LightChange], limit: FlashLimit,
                         strobes: Sequence[tuple[str, float, float]] = ()) -> FlashViolation | None:
    """The first window of ``changes`` (sorted by time) with more flashes than ``limit``, or None.

    ``strobes`` lists ``(state label, rate Hz, light share)`` of strobing fixtures in the sequence.
    """
    for label, hz, share in strobes:
        if share >= limit.threshold and hz > limit.max_flashes / limit.window_s:
            return FlashViolation(0.0, int(hz * limit.window_s), (LightChange(0.0, share, share, label),), limit, hz)
    significant = [c for c in changes if any(c.directions(limit.threshold))]
    times = [c.at for c in significant]
    for index, change in enumerate(significant):
        # Half-open window, with a hair of tolerance so exactly N per second is N, not N + 1 by rounding.
        end = bisect.bisect_left(times, change.at + limit.window_s - _TIME_TOLERANCE_S)
        window = significant[index:end]
        flashes = _flashes(window, limit.threshold)
        if flashes > limit.max_flashes:
            return FlashViolation(change.at, flashes, tuple(window), limit)
    return None


def override_hint(limit: FlashLimit, slower: str = "") -> str:
    """How an operator gets past a refusal, for the end of refusal messages (``slower``: a concrete setting)."""
    return (f"Slow the sequence down (a longer settle.lights_s in the plan{slower}), or, if the subject is not a "
            "person, set "
            f"subject: {{kind: object}} in the plan; to allow more than {limit.max_flashes} flashes per second for "
            "a person, screen them for photosensitivity and add to the plan subject: {photosensitivity_override: "
            "{screened_by: NAME, screened_on: YYYY-MM-DD, max_flashes_per_s: N}} (logged in the session journal)")


class FlashGovernor:
    """Run-time guard: delays a light change until it keeps every window within the limit, as the subject
    sees it: a commanded state reaches the fixtures up to one DMX frame later, and not every state waits the
    same, so the changes it paces are spaced ``margin_s`` (one frame at the fastest refresh) beyond the window.

    Thread-safe use is the caller's business (the engine applies light from one thread at a time).
    """

    def __init__(self, limit: FlashLimit, margin_s: float = 1.0 / MAX_DMX_RATE_HZ) -> None:
        self.limit = limit
        self.margin_s = margin_s
        self._changes: list[LightChange] = []

    def delay_for(self, change: LightChange) -> float:
        """Seconds to wait after ``change.at`` before applying it (0 when it may go now)."""
        if not any(change.directions(self.limit.threshold)):
            return 0.0
        window = self.limit.window_s
        recent = [c for c in self._changes if c.at > change.at - window]
        candidates = [change.at] + [c.at + window + self.margin_s for c in recent]
        for moment in sorted(candidates):
            kept = [c for c in recent if c.at > moment - window]
            if _flashes([*kept, change], self.limit.threshold) <= self.limit.max_flashes:
                return max(moment - change.at, 0.0)
        return window  # unreachable: with nothing kept a single change is never a flash

    def record(self, change: LightChange) -> None:
        """Remember a change that went out (the safe state included: it is light the subject saw)."""
        self._changes.append(change)
        horizon = change.at - 2 * self.limit.window_s
        self._changes = [c for c in self._changes if c.at > horizon]
