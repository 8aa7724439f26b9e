"""Take by take: light, turn, arm, fire and download one take, then store it while the next is shot.

As the last camera of a take delivers (its exposures are over) the next take's light is commanded and the
table turns to its station, from that camera's thread; the take's files are then stored and verified on the
verify thread while the next take is armed and fired. A take that fails is landed through the round's
control, which says whether to shoot it again now (consistency: take) or to stop the round (consistency:
pose, where the runner shoots the whole pose again).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from capturerig.devices import DeviceError
from capturerig.engine._events import TakeStarted
from capturerig.engine._shooter import Flight, Next, RoundControl, TakeParts
from capturerig.engine._shot import CameraResult, Shot, TakeAttemptFailed
from capturerig.plan import Take

__all__ = ["TakeByTakeShooter"]


class _Countdown:
    """Calls ``then`` once, from the thread that counts the last of ``count`` events."""

    def __init__(self, count: int, then: Callable[[], None]) -> None:
        self._left = count
        self._then = then
        self._lock = threading.Lock()

    def done(self) -> None:
        with self._lock:
            self._left -= 1
            last = self._left == 0
        if last:
            self._then()


class TakeByTakeShooter:
    """Shoots takes one after the other, each stored and verified while the next is shot."""

    def __init__(self, parts: TakeParts) -> None:
        self.parts = parts

    def ready(self, takes: Sequence[Take]) -> None:
        """Nothing to do before the hold: every take readies the next as it ends."""

    def close(self) -> None:
        """Nothing to close: the parts outlive the pose."""

    def shoot(self, takes: Sequence[Take], control: RoundControl) -> None:
        queue = deque(takes)
        in_flight: Flight | None = None

        def land(flight: Flight | None) -> None:
            react(flight[0] if flight else None, self.parts.land(flight, control))

        def react(take: Take | None, next_step: Next) -> None:
            if next_step is Next.AGAIN and take is not None:
                queue.appendleft(take)
            elif next_step is Next.STOP:
                queue.clear()

        try:
            while queue or in_flight is not None:
                if not queue:
                    landing, in_flight = in_flight, None
                    land(landing)
                    continue
                take = queue.popleft()
                control.before(take, in_flight[0] if in_flight else None)
                try:
                    shot = self._shoot_one(take, control.attempt(take), control.total, queue[0] if queue else None)
                except TakeAttemptFailed as failure:
                    landing, in_flight = in_flight, None
                    land(landing)
                    react(take, control.landed(take, failure))
                    continue
                landing, in_flight = in_flight, (take, self.parts.verifier.verify_later(shot))
                if shot.doomed:  # a device failed: land what came now, so the take's fate is known at once
                    land(landing)
                    landing, in_flight = in_flight, None
                land(landing)
        except BaseException:
            self.parts.land_leaving(in_flight, control)
            raise

    def _shoot_one(self, take: Take, attempt: int, total: int, next_take: Take | None) -> Shot:
        """Light, turn, arm, fire and download ``take``; raises TakeAttemptFailed when a device fails before
        the files come. With ``next_take`` (the same pose's next) its light goes on and the table turns as soon
        as every camera has delivered."""
        parts = self.parts
        started = time.monotonic()
        parts.publish(TakeStarted(take_id=take.id, ordinal=take.ordinal, total=total, attempt=attempt))
        try:
            ahead = parts.lights.begin(take)  # while the table turns
            table_steady_by = parts.table.reach(take)
            parts.firing.set_bracket(take)
            errors = parts.firing.arm(take.cameras, [(take.id, attempt)])  # while light and table settle
            armed = [c for c in take.cameras if errors[c] is None]
            fired = parts.firing.fire(armed, not_before=max(table_steady_by, parts.lights.steady(take, ahead)))
        except DeviceError as exc:
            parts.forget_state()
            raise TakeAttemptFailed(take.id, {exc.device_id: str(exc)}) from exc
        errors.update(fired.errors)
        results = self._download(take, attempt, next_take, errors)
        triggered = parts.firing.trigger_event(take, attempt, fired, results)
        needed = parts.firing.plan.coverage.min_cameras or len(take.cameras)
        return Shot(take, attempt, total, started, results, parts.lights.devices.safe_latched, needed, triggered)

    def _download(self, take: Take, attempt: int, next_take: Take | None,
                  errors: dict[str, str | None]) -> dict[str, CameraResult]:
        """Every camera's files (or why none came); the last to deliver readies ``next_take``."""
        parts = self.parts
        trouble = threading.Event()  # a camera failed: the table stays for the take to be shot again
        if any(errors.values()):
            trouble.set()
        waiting = _Countdown(len(take.cameras), lambda: self._ready_next(take, next_take, trouble))

        def collect(camera_id: str) -> CameraResult:
            try:
                error = errors[camera_id]
                if error is not None:
                    return CameraResult(camera_id, [], error)
                files = parts.firing.wait_for_files(camera_id)
            except DeviceError as exc:
                trouble.set()
                return CameraResult(camera_id, [], str(exc))
            finally:
                waiting.done()
            if next_take is not None:  # stored by verify(), once the next light is on its way
                return CameraResult(camera_id, files, None)
            # Nothing is lit next: stored from now on, beside the other cameras' downloads (with a next take,
            # storing here would hold up the last camera's thread that commands its light).
            return CameraResult(camera_id, files, None, parts.verifier.store_soon(take, attempt, camera_id, files))

        collecting = parts.firing.pool.map(collect, take.cameras)
        parts.lights.prepare_soon(next_take)
        try:
            parts.lights.journal()  # this take's light, journalled while its shutters are open, not before them
        finally:
            results = {r.camera_id: r for r in collecting}
        return results

    def _ready_next(self, take: Take, next_take: Take | None, trouble: threading.Event) -> None:
        """Every camera of ``take`` has delivered: turn to ``next_take``'s station (unless a camera failed: the
        take is then shot again here) and light it, now."""
        if next_take is None or next_take.pose.id != take.pose.id:
            return
        if not trouble.is_set():
            self.parts.table.turn_soon(next_take)
        self.parts.lights.next_after(next_take)
