"""Lights ahead: work out, command and journal the lighting state a take needs, before it needs it.

A state's frames are worked out once, on the lights thread while it is idle. A take's light is commanded as
soon as the take before it no longer needs its own (every camera delivered: its exposures are over), so the
light settles while that take's files are stored and the cameras are armed. The change's ``LightsApplied``
is journalled after the take's trigger: a journal commit then waits beside the exposures, not before them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from capturerig.devices import DeviceError
from capturerig.engine._events import Event, LightsApplied
from capturerig.engine._rigdevices import LightChange, PreparedLight, RigDevices
from capturerig.lighting import PhotosensitivityRefused
from capturerig.plan import Take

__all__ = ["LightsAhead"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _OnWire:
    """A light change on the wire: the event to journal for it and when (time.monotonic()) it is steady."""

    applied: LightsApplied
    steady_by: float


class LightsAhead:
    """The rig's lighting state as the takes need it; ``lighting_id`` is the state known to be on."""

    def __init__(self, devices: RigDevices, settle_s: float,
                 publish_many: Callable[[Sequence[Event]], None]) -> None:
        self.devices = devices
        self.settle_s = settle_s
        self.publish_many = publish_many
        self.lighting_id: str | None = None
        self._steady_by = 0.0  # when lighting_id's state is steady (time.monotonic())
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="capturerig-lights")
        self._change: Future[_OnWire] | None = None  # a change under way, for the take of lighting _change_id
        self._change_id: str | None = None
        self._lit: list[LightsApplied] = []  # changes on the wire, not yet journalled
        # Each state worked out once: per change it made hundreds of profile look-ups, each a syscall, and under
        # a storing take's GIL contention that cost more than the DMX frame itself.
        self._prepared: dict[str | None, PreparedLight] = {}

    def prepared(self, take: Take) -> PreparedLight:
        """``take``'s lighting state worked out for the rig (once per state; a race only computes it twice)."""
        light = self._prepared.get(take.lighting.id)
        if light is None:
            light = self._prepared[take.lighting.id] = self.devices.prepare_lighting(take.lighting)
        return light

    def prepare_soon(self, take: Take | None) -> None:
        """Work out ``take``'s state on the idle lights thread (a failure is raised again where it is used)."""
        if take is not None and take.lighting.id not in self._prepared:
            self._thread.submit(self.prepared, take)

    def begin(self, take: Take) -> bool:
        """Light ``take``'s state unless it is on or on its way. Returns whether the take before started it."""
        ahead = self._change is not None and self._change_id == take.lighting.id
        if not ahead:
            self.finish()  # another state's change: the state is known once it is over
            if take.lighting.id != self.lighting_id:
                self.start(take)
        return ahead

    def start(self, take: Take, command_here: bool = False) -> None:
        """Command ``take``'s state on the lights thread, or with ``command_here`` on this thread (which saves
        a thread wake-up, 1-5 ms) and wait for the wire there. A change the flash governor holds back always
        goes to the lights thread: its wait must not hold up this one (a camera's download)."""
        self.lighting_id = None
        self._change_id = take.lighting.id
        if command_here:
            try:
                light = self.prepared(take)
                if self.devices.governor_wait_s(light) == 0.0:
                    change = self.devices.begin_lighting(light, self.settle_s)
                    self._change = self._thread.submit(self._on_wire, take, change)
                    return
            except (DeviceError, PhotosensitivityRefused) as exc:  # collected like a failure on the lights thread
                failed: Future[_OnWire] = Future()
                failed.set_exception(exc)
                self._change = failed
                return
        self._change = self._thread.submit(self._command, take)

    def next_after(self, next_take: Take) -> None:
        """The take before ``next_take`` has had its exposures: light ``next_take`` now, from this thread."""
        if next_take.lighting.id != self.lighting_id:
            self.start(next_take, command_here=True)

    def steady(self, take: Take, ahead: bool) -> float:
        """Wait until ``take``'s state is on the wire; returns when (time.monotonic()) it is steady.

        A change started ahead that failed is commanded again (the take's own); the take's own failing raises
        DeviceError (the take fails)."""
        change, self._change = self._change, None
        if change is None:
            return self._steady_by if take.lighting.id == self.lighting_id else 0.0
        try:
            on_wire = change.result()
        except DeviceError as exc:
            if not ahead:
                raise
            log.warning("lighting ahead failed (%s); the take applies its own", exc)
            self.start(take)
            return self.steady(take, False)
        self._lit.append(on_wire.applied)
        self.lighting_id, self._steady_by = take.lighting.id, on_wire.steady_by
        return on_wire.steady_by

    def finish(self) -> None:
        """Wait for a change under way; a device failure leaves the state unknown (commanded again)."""
        change, self._change = self._change, None
        if change is None:
            return
        try:
            on_wire = change.result()
        except DeviceError as exc:
            log.warning("lighting ahead failed (%s); the take applies its own", exc)
            return
        self._lit.append(on_wire.applied)
        self.lighting_id, self._steady_by = self._change_id, on_wire.steady_by

    def journal(self) -> None:
        """Journal the changes on the wire since the last call (LightsApplied, in the order made)."""
        lit, self._lit = self._lit, []
        self.publish_many(lit)

    def forget(self) -> None:
        """After a pause or failure the state is unknown. Waits for a change under way first (so lights put
        safe after this stay safe) and journals the changes that were made."""
        try:
            self.finish()
        finally:
            self.journal()
        self.lighting_id = None

    def burst_lit(self, lighting_id: str | None) -> None:
        """A burst commanded its own states and waited for each; ``lighting_id`` is on (None: unknown)."""
        self.lighting_id = lighting_id

    def close(self) -> None:
        """Forget the state (a failing last change is logged: the lights go safe next) and stop the thread."""
        try:
            self.forget()
        except Exception:
            log.exception("the last light change failed")
        self._thread.shutdown(wait=True)

    def _command(self, take: Take) -> _OnWire:
        """On the lights thread: command the state (the flash governor may hold it back) and wait for the wire."""
        return self._on_wire(take, self.devices.begin_lighting(self.prepared(take), self.settle_s))

    def _on_wire(self, take: Take, change: LightChange) -> _OnWire:
        timing = self.devices.finish_lighting(change)
        applied = LightsApplied(take_id=take.id, lighting_id=take.lighting.state_id, wire_at=timing.wire_at,
                                settled_at=timing.settled_at, governor_wait_s=timing.governor_wait_s,
                                commanded_at=timing.commanded_at)
        return _OnWire(applied, timing.settled_monotonic)
