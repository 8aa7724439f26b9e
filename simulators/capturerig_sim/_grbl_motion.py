"""One GRBL planner block as the simulator models it: a trapezoidal move, a homing search or a dwell.

Times are wall seconds (``time.monotonic()`` in the simulator, any clock in tests); ``wall_scale`` wall
seconds pass per machine second, so a test can run a 3 s move in 60 ms (0: every move finishes at once).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Move"]


@dataclass
class Move:
    """One planned block: a trapezoidal move (or a dwell when start == target) in machine units."""

    start: float
    target: float
    speed: float  # units/s
    accel: float  # units/s^2
    kind: str = "run"  # run | home | dwell
    dwell_s: float = 0.0
    began: float | None = None  # wall time when it started
    wall_scale: float = 1.0

    def machine_duration(self) -> float:
        """Machine seconds the block takes (accelerate, cruise at ``speed`` if it is reached, decelerate)."""
        if self.kind == "dwell":
            return self.dwell_s
        distance = abs(self.target - self.start)
        if distance == 0.0:
            return 0.0
        if distance >= self.speed * self.speed / self.accel:
            return distance / self.speed + self.speed / self.accel
        return 2.0 * math.sqrt(distance / self.accel)

    def elapsed(self, now: float) -> float:
        """Machine seconds since the move began."""
        if self.began is None:
            return 0.0
        return math.inf if self.wall_scale == 0.0 else (now - self.began) / self.wall_scale

    def done(self, now: float) -> bool:
        """The block has begun and run its whole duration."""
        return self.began is not None and self.elapsed(now) >= self.machine_duration()

    def position(self, now: float) -> tuple[float, float]:
        """(position, speed in units/s) at ``now``."""
        distance = abs(self.target - self.start)
        tau = self.elapsed(now)
        total = self.machine_duration()
        if self.kind == "dwell" or distance == 0.0 or tau >= total:
            return (self.target if self.kind != "dwell" else self.start), 0.0
        peak = min(self.speed, math.sqrt(distance * self.accel))
        ramp_t = peak / self.accel
        if tau < ramp_t:
            travelled, speed = 0.5 * self.accel * tau * tau, self.accel * tau
        elif tau < total - ramp_t:
            travelled, speed = 0.5 * peak * ramp_t + peak * (tau - ramp_t), peak
        else:
            left = total - tau
            travelled, speed = distance - 0.5 * self.accel * left * left, self.accel * left
        sign = 1.0 if self.target >= self.start else -1.0
        return self.start + sign * travelled, speed
