"""One sender clock per light output: every universe's current frame goes out at a steady rate.

Drivers hand over whole frames (an atomic swap of an immutable ``bytes``); a single thread per output
sends them on a fixed schedule, so no frame spawns a thread and a slow caller never stalls the wire.
Transports differ only in ``transmit`` and in how often an unchanged frame must be repeated: serial DMX
refreshes every tick, Art-Net repeats within 4 s, sACN within 1 s.

The serial outputs (ENTTEC, Open DMX, serial lights) use this thread clock; the network outputs (Art-Net,
sACN) use :class:`capturerig.devices._sender_process.ProcessFrameClock`, the same interface with the sender
in its own process, out of reach of the controller's GIL.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from capturerig.config import MAX_DMX_RATE_HZ
from capturerig.devices.protocols import DeviceError, DeviceTimeout

__all__ = ["FrameClock", "SendRecord"]

log = logging.getLogger(__name__)
_HISTORY = 4096


@dataclass(frozen=True)
class SendRecord:
    """When a universe's frame went out (perf_counter seconds) and when that frame was handed over."""

    universe: int
    generation: int
    sent_at: float
    applied_at: float


@dataclass
class _Universe:
    frame: bytes
    generation: int = 0
    applied_at: float = 0.0
    sent_generation: int = -1
    last_sent: float = float("-inf")


class FrameClock:
    """Sends each universe's current frame on a fixed schedule from one thread.

    Parameters
    ----------
    device_id : str
        For errors and the thread name.
    universes : sequence of int
        Universes this output carries.
    transmit : callable(universe, frame)
        Puts one frame on the wire; may raise OSError (or DeviceError) which is kept and reported by
        :meth:`wait_sent` until a later send succeeds.
    rate_hz : float
        Ticks per second, at most 44 (DMX512's full-frame rate).
    repeat_after_s : float or None
        Resend an unchanged frame after this long (keep-alive); None resends every tick.
    after_tick : callable(list of universes sent), optional
        Called after a tick that sent at least one frame (Art-Net uses it for ArtSync).
    realtime_priority : int, optional
        Run the sender thread under SCHED_FIFO at this priority (1..99) so other processes on a busy
        machine do not delay its ticks; needs root or CAP_SYS_NICE, else a warning and normal scheduling.
    """

    def __init__(self, device_id: str, universes: Sequence[int], transmit: Callable[[int, bytes], None],
                 rate_hz: float = MAX_DMX_RATE_HZ, repeat_after_s: float | None = None,
                 after_tick: Callable[[list[int]], None] | None = None, frame_size: int = 512,
                 realtime_priority: int | None = None) -> None:
        if not 0 < rate_hz <= MAX_DMX_RATE_HZ:
            raise ValueError(f"{device_id}: rate {rate_hz} Hz is outside 0..{MAX_DMX_RATE_HZ:g} Hz")
        if realtime_priority is not None and not 1 <= realtime_priority <= 99:
            raise ValueError(f"{device_id}: real-time priority {realtime_priority} is outside 1..99")
        self.realtime_priority = realtime_priority
        self.device_id = device_id
        self.period_s = 1.0 / rate_hz
        self.repeat_after_s = repeat_after_s
        self._transmit = transmit
        self._after_tick = after_tick
        self._frame_size = frame_size
        self._universes = {u: _Universe(bytes(frame_size)) for u in universes}
        self._lock = threading.Lock()
        self._sent = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: Exception | None = None
        self.history: deque[SendRecord] = deque(maxlen=_HISTORY)

    # -- caller side -------------------------------------------------------------------------------------
    def set_frame(self, universe: int, frame: bytes) -> None:
        """Replace a universe's frame; the next tick sends it. Raises ValueError on a bad universe or size."""
        if universe not in self._universes:
            raise ValueError(f"{self.device_id}: does not carry universe {universe} "
                             f"(carries {', '.join(map(str, self._universes))})")
        if len(frame) != self._frame_size:
            raise ValueError(f"{self.device_id}: a frame has {self._frame_size} levels, got {len(frame)}")
        with self._lock:
            state = self._universes[universe]
            state.frame = bytes(frame)
            state.generation += 1
            state.applied_at = time.perf_counter()

    def wait_sent(self, timeout_s: float) -> None:
        """Block until every universe's current frame has been transmitted at least once."""
        deadline = time.monotonic() + timeout_s
        with self._sent:
            while any(u.sent_generation < u.generation for u in self._universes.values()):
                if self._thread is None or not self._thread.is_alive():
                    raise DeviceError(self.device_id, "the sender is not running", "open the light output first")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    reason = f": last error {self.error}" if self.error else ""
                    raise DeviceTimeout(self.device_id, f"frame not on the wire after {timeout_s:g} s{reason}",
                                        "check the cable, port or network")
                self._sent.wait(remaining)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"dmx-{self.device_id}", daemon=True)
        self._thread.start()

    def stop(self, flush: bool = True) -> None:
        """Stop the clock; with ``flush`` the current frames go out once more first (e.g. a blackout)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join(timeout=2.0)
        if flush:
            self._tick(force=True)

    # -- sender thread --------------------------------------------------------------------------------------
    def _due(self, state: _Universe, now: float, force: bool) -> bool:
        if force or state.sent_generation < state.generation or self.repeat_after_s is None:
            return True
        return now - state.last_sent >= self.repeat_after_s

    def _tick(self, force: bool = False) -> None:
        now = time.perf_counter()
        with self._lock:
            due = [(u, s.frame, s.generation, s.applied_at) for u, s in self._universes.items()
                   if self._due(s, now, force)]
        sent = []
        for universe, frame, generation, applied_at in due:
            try:
                self._transmit(universe, frame)
            except (OSError, DeviceError) as exc:
                self.error = exc
                log.warning("%s: sending universe %s failed: %s", self.device_id, universe, exc)
                continue
            sent_at = time.perf_counter()
            sent.append(universe)
            self.history.append(SendRecord(universe, generation, sent_at, applied_at))
            with self._sent:
                state = self._universes[universe]
                state.sent_generation = max(state.sent_generation, generation)
                state.last_sent = sent_at
                self._sent.notify_all()
        if sent:
            self.error = None
            if self._after_tick is not None:
                self._after_tick(sent)

    def _go_realtime(self, priority: int) -> None:
        try:  # pid 0 = the calling thread on Linux
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        except (OSError, AttributeError) as exc:  # no permission, or not Linux
            log.warning("%s: sender thread stays at normal priority (real-time needs CAP_SYS_NICE): %s",
                        self.device_id, exc)

    def _run(self) -> None:
        if self.realtime_priority is not None:
            self._go_realtime(self.realtime_priority)
        next_tick = time.perf_counter()
        while not self._stop.is_set():
            self._tick()
            next_tick += self.period_s
            delay = next_tick - time.perf_counter()
            if delay < -self.period_s:  # fell behind (machine stalled): restart the schedule, don't burst
                next_tick = time.perf_counter()
                continue
            if delay > 0:
                self._stop.wait(delay)
