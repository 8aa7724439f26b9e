"""The LightOutput side shared by the network transports whose frames leave from a sender process."""

from __future__ import annotations

from collections import deque

from capturerig.devices._frame_clock import SendRecord
from capturerig.devices._sender_process import ProcessFrameClock

__all__ = ["ProcessClockOutput"]


class ProcessClockOutput:
    """A light output backed by a :class:`ProcessFrameClock`; subclasses build ``_clock`` from their params."""

    _id: str
    _clock: ProcessFrameClock
    _open: bool = False

    @property
    def id(self) -> str:
        return self._id

    @property
    def history(self) -> deque[SendRecord]:
        """When each frame went out (for benchmarks): newest 4096 sends."""
        return self._clock.history

    @property
    def sender_pid(self) -> int | None:
        """The id of the sender process while the output is open, else None."""
        return self._clock.pid

    def open(self, timeout_s: float) -> None:
        """Start the sender process (it opens the socket); DeviceError when the socket cannot be made."""
        if self._open:
            return
        self._clock.start(max(timeout_s, 2.0))
        self._open = True

    def set_universe(self, universe: int, levels: bytes) -> None:
        """Replace the frame of ``universe`` (512 levels); raises ValueError for a universe not carried."""
        self._clock.set_frame(universe, levels)

    def wait_sent(self, timeout_s: float) -> None:
        """Block until every universe's current frame left; DeviceTimeout names the last send error,
        DeviceError says when the sender process died."""
        self._clock.wait_sent(timeout_s)

    def close(self) -> None:
        """Send the current frames once more (the engine's blackout), then stop the sender; never raises.

        The sACN sender sends its three Stream_Terminated packets per universe on the way out.
        """
        opened, self._open = self._open, False
        self._clock.stop(flush=opened)
