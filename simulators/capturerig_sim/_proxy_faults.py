"""The fault proxy's data: which faults are set per direction, its counters, the link's token bucket.

Everything here is plain data or pure arithmetic so the proxy's loop (``_proxy_core``) only reads it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any, Literal

__all__ = ["DIRECTIONS", "Direction", "DirectionFaults", "Faults", "ProxyCounters", "TokenBucket", "delay_draws",
           "directions"]

# "upstream" = client -> target (the controller's requests to an agent); "downstream" = target -> client.
Direction = Literal["upstream", "downstream"]
DIRECTIONS: tuple[Direction, Direction] = ("upstream", "downstream")


def directions(which: str) -> tuple[Direction, ...]:
    """The directions ``which`` ("upstream", "downstream" or "both") names; a clear error for anything else."""
    if which == "both":
        return DIRECTIONS
    if which == "upstream":
        return ("upstream",)
    if which == "downstream":
        return ("downstream",)
    raise ValueError(f"direction must be 'upstream', 'downstream' or 'both', not {which!r}")


@dataclass(frozen=True)
class DirectionFaults:
    """The faults applied to bytes flowing one way; the defaults forward untouched."""

    delay: float = 0.0  # seconds added to every chunk
    jitter: float = 0.0  # plus uniform(0, jitter) seconds, seeded; never reorders bytes
    rate: float | None = None  # bytes per second, shared by every connection (the proxy is one link)
    slice_size: int | None = None  # write in pieces of at most this many bytes ...
    slice_delay: float = 0.0  # ... with this many seconds between pieces
    reset_after: int | None = None  # reset a connection once this many bytes went its way

    def __post_init__(self) -> None:
        for name in ("delay", "jitter", "slice_delay"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 seconds, not {getattr(self, name)}")
        if self.rate is not None and self.rate <= 0:
            raise ValueError(f"rate must be > 0 bytes/s (None lifts the cap), not {self.rate}")
        if self.slice_size is not None and self.slice_size < 1:
            raise ValueError(f"slice size must be >= 1 byte (None stops slicing), not {self.slice_size}")
        if self.reset_after is not None and self.reset_after < 0:
            raise ValueError(f"reset_after must be >= 0 bytes (None lifts it), not {self.reset_after}")


@dataclass(frozen=True)
class Faults:
    """Every fault the proxy applies now (a snapshot: changing a fault makes a new one)."""

    upstream: DirectionFaults = field(default_factory=DirectionFaults)
    downstream: DirectionFaults = field(default_factory=DirectionFaults)
    partitioned: bool = False  # connections stay open, nothing is forwarded, new ones are held
    down: bool = False  # the listening port is closed: new connections are refused

    def way(self, direction: Direction) -> DirectionFaults:
        return self.upstream if direction == "upstream" else self.downstream

    def changed(self, which: str, **changes: Any) -> Faults:
        """A copy with ``changes`` applied to the directions ``which`` names (validated)."""
        ways = directions(which)
        upstream = replace(self.upstream, **changes) if "upstream" in ways else self.upstream
        downstream = replace(self.downstream, **changes) if "downstream" in ways else self.downstream
        return replace(self, upstream=upstream, downstream=downstream)


@dataclass(frozen=True)
class ProxyCounters:
    """What went through the proxy since it started."""

    bytes_upstream: int = 0  # forwarded client -> target
    bytes_downstream: int = 0  # forwarded target -> client
    connections_opened: int = 0  # accepted from clients
    connections_reset: int = 0  # cut by the proxy's faults (reset, reset_after, a partition that healed too late)
    connections_open: int = 0  # open now


class TokenBucket:
    """A byte-rate cap with debt: each writer reserves its bytes and sleeps off any deficit.

    Reserving before sleeping makes concurrent writers queue in order instead of racing for tokens; the
    bucket holds at most ``burst`` bytes of credit so an idle link does not bank a long burst.
    """

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.burst = max(1460.0, rate * 0.02)  # 20 ms of traffic, at least one Ethernet segment
        self._tokens = self.burst
        self._last = now

    def reserve(self, size: int, now: float) -> float:
        """Take ``size`` bytes of credit; returns how long to wait (seconds) before sending them."""
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens -= size
        return max(0.0, -self._tokens / self.rate)


def delay_draws(seed: int, connection: int, direction: Direction) -> random.Random:
    """The jitter source of one direction of one connection.

    Seeded per (seed, connection number, direction), so a chaos run replays the same jitter whatever order
    the connections' chunks interleave in.
    """
    return random.Random(f"{seed}/{connection}/{direction}")
