"""Table ahead: turn the turntable to a take's station, and know when it has settled.

The next station's move starts as the last camera of a take delivers (beside the next light), so the table
turns while the take's files are stored. "Settle" here is the plan's ``settle.turntable_s`` after a move.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from capturerig.devices import DeviceError, Turntable
from capturerig.engine._events import Event, StationReached
from capturerig.plan import Take

__all__ = ["TABLE_TIMEOUT_S", "TableAhead"]

log = logging.getLogger(__name__)
TABLE_TIMEOUT_S = 120.0


class TableAhead:
    """The turntable's angle as the takes need it; ``angle`` is the plan angle it is known to stand at."""

    def __init__(self, table: Turntable | None, settle_s: float, publish: Callable[[Event], None]) -> None:
        self.table = table
        self.settle_s = settle_s
        self.publish = publish
        self.angle: float | None = None
        self._homed_steady_by: float | None = None  # see homed()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="capturerig-table")
        self._move: tuple[float, Future[float]] | None = None  # a move started ahead: its angle, when steady

    def homed(self, at: float) -> None:
        """The table was homed (it stands at 0 degrees) and has not moved since ``at`` (time.monotonic()): a
        first move to 0 is still made (it confirms the angle) but moves nothing, so it waits only for what is
        left of the settle."""
        self._homed_steady_by = at + self.settle_s

    def turn_soon(self, take: Take) -> None:
        """Start turning to ``take``'s station on the table thread (``reach`` collects it)."""
        angle = take.station.angle_deg
        if self.table is None or angle is None or angle == self.angle or self._move is not None:
            return
        self.angle = None  # unknown until the move is collected
        self._move = (angle, self._thread.submit(self._turn, take, self.table, angle))

    def reach(self, take: Take) -> float:
        """Turn to ``take``'s station (unless it is there, or on its way); returns when (time.monotonic()) the
        table is steady, for the caller to wait for while it arms the cameras. Raises DeviceError."""
        steady_by = self._finish_move(take)
        if steady_by is not None:
            return steady_by
        angle = take.station.angle_deg
        if angle is None or self.table is None or angle == self.angle:
            return 0.0
        return self._turn(take, self.table, angle)

    def forget(self) -> None:
        """After a pause or failure: wait for a move under way (its angle then known, or not)."""
        self._finish_move(None)

    def close(self) -> None:
        self._thread.shutdown(wait=True)

    def _finish_move(self, take: Take | None) -> float | None:
        """Wait for a move started ahead. Returns when the table is steady if the move was to ``take``'s
        station; a failed move to it raises DeviceError (its take fails), a failed move elsewhere is logged
        (the angle is then unknown and the next take moves the table again)."""
        move, self._move = self._move, None
        if move is None:
            return None
        angle, future = move
        mine = take is not None and take.station.angle_deg == angle
        try:
            steady_by = future.result()
        except DeviceError as exc:
            if mine:
                raise
            log.warning("turning ahead failed (%s); the next take turns the table itself", exc)
            return None
        return steady_by if mine else None

    def _turn(self, take: Take, table: Turntable, angle: float) -> float:
        """Move to ``take``'s station at ``angle``; returns when (time.monotonic()) the table is steady."""
        self.angle = None  # a failed move leaves the angle unknown
        homed_steady_by, self._homed_steady_by = self._homed_steady_by, None  # a failed move may have moved it
        confirmed = table.move_to(angle, TABLE_TIMEOUT_S)
        self.publish(StationReached(station_id=take.station.id, angle_deg=confirmed, reached_at=time.time()))
        self.angle = angle  # the plan's angle: the next take compares against it
        steady_by = time.monotonic() + self.settle_s
        if homed_steady_by is not None and angle == 0.0:
            steady_by = homed_steady_by  # it stood at 0 since it was homed: nothing moved
        return steady_by
