"""What the serial light outputs share: opening a pyserial URL, the sender clock, streaming rules.

ENTTEC DMX USB Pro, Open DMX and the serial light controller all own one port, refresh every universe on
every tick of one :class:`~capturerig.devices.FrameClock` and refuse widget queries once frames stream
(a query answer would interleave with frames, and a stalled query would stall the light of a capture).
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

import serial
from pydantic import Field

from capturerig.config import LightOutputConfig
from capturerig.devices._frame_clock import FrameClock, SendRecord
from capturerig.devices._params import DmxRateHz, DriverParams, RealtimePriority, SerialPortUrl
from capturerig.devices._registry import DriverContext
from capturerig.devices.protocols import DeviceError

__all__ = ["PTY_ERRNOS", "SerialLightOutput", "SerialLightParams", "describe_bytes", "is_simulated_port",
           "open_serial_port"]

log = logging.getLogger(__name__)

# A pty (the simulators' wire) has no modem lines and may refuse line ioctls with these errnos.
PTY_ERRNOS = frozenset({errno.ENOTTY, errno.EINVAL})


def describe_bytes(data: bytes, limit: int = 48) -> str:
    """``data`` as hex for an error message, shortened past ``limit`` bytes, with its length."""
    if not data:
        return "nothing"
    shown = data[:limit].hex(" ")
    more = f" ... ({len(data)} bytes)" if len(data) > limit else f" ({len(data)} bytes)"
    return shown + more


def is_simulated_port(url: str) -> bool:
    """True for a pyserial ``loop://`` URL or a pseudo-terminal (what the simulators listen on)."""
    if url.startswith("loop://"):
        return True
    return os.path.realpath(url).startswith("/dev/pts/")


class SerialLightParams(DriverParams):
    """The params every serial light output has; each driver's model adds its own."""

    port: SerialPortUrl = Field(description="the interface's serial device (/dev/ttyUSB0, /dev/serial/by-id/...) "
                                            "or a pyserial URL")
    rate_hz: DmxRateHz = Field(40.0, description="frames per second per universe (at most 44)")
    realtime_priority: RealtimePriority | None = Field(
        None, description="run the sender thread under SCHED_FIFO at this priority (needs CAP_SYS_NICE)")


def open_serial_port(device_id: str, url: str, settings: Mapping[str, Any]) -> serial.SerialBase:
    """Open ``url`` (a device path or pyserial URL) with ``settings``; failures raise DeviceError.

    pyserial itself ignores the DTR/RTS ioctl errors a pty gives at open; we never toggle those lines
    afterwards, so the same code runs on an FTDI chip and on a simulator's pty.
    """
    try:
        return serial.serial_for_url(url, **settings)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise DeviceError(device_id, f"cannot open serial port {url}: {exc}",
                          "check the cable, the port path in the rig file and that no other program holds it"
                          ) from exc


class SerialLightOutput(ABC):
    """Base of the serial light drivers: one port, one sender clock refreshing every tick.

    Subclasses set ``_what`` and ``Params`` (a :class:`SerialLightParams`), read their params and hand them
    to this constructor, and implement ``_port_settings``, ``_handshake`` (queries, at open only) and
    ``_transmit``.
    """

    _what = "serial light output"

    def __init__(self, config: LightOutputConfig, context: DriverContext, params: SerialLightParams) -> None:
        self._config = config
        self._context = context
        self.port_url = params.port
        self.rate_hz = params.rate_hz
        self.realtime_priority = params.realtime_priority
        self._port: serial.SerialBase | None = None
        self._clock: FrameClock | None = None
        self._io_lock = threading.Lock()  # one writer at a time: the clock thread, or a query before it runs

    @property
    def id(self) -> str:
        """The output id from the rig file."""
        return self._config.id

    @property
    def universes(self) -> tuple[int, ...]:
        """Universes this output carries."""
        return self._config.universes

    @property
    def send_history(self) -> list[SendRecord]:
        """When each recent frame was handed over and when it was written (perf_counter), newest last."""
        clock = self._clock
        return [] if clock is None else list(clock.history)

    @property
    def streaming(self) -> bool:
        """True once the sender clock runs (from the end of :meth:`open` until :meth:`close`)."""
        return self._clock is not None

    # -- hooks ---------------------------------------------------------------------------------------
    @abstractmethod
    def _port_settings(self) -> dict[str, Any]:
        """Keyword arguments for ``serial.serial_for_url`` (baud rate, framing) of this transport."""

    def _handshake(self, port: serial.SerialBase, timeout_s: float) -> None:
        """Queries at open (identify the device, read its parameters); raises DeviceError."""
        return None  # Open DMX has nothing to ask: its widget cannot answer

    @abstractmethod
    def _transmit(self, port: serial.SerialBase, universe: int, frame: bytes) -> None:
        """Put one frame on the wire in this transport's framing; raises OSError or DeviceError."""

    # -- LightOutput -----------------------------------------------------------------------------------
    def open(self, timeout_s: float) -> None:
        """Open the port, run the device's queries, then start refreshing every universe at ``rate_hz``.

        Raises DeviceError when the port is missing or the device answers wrongly (or not within
        ``timeout_s``); the port is closed again in that case.
        """
        if self._clock is not None:
            return
        port = open_serial_port(self.id, self.port_url, self._port_settings())
        self._port = port
        try:
            self._handshake(port, timeout_s)
        except BaseException:
            self._port = None
            port.close()
            raise
        clock = FrameClock(self.id, self.universes, self._send, rate_hz=self.rate_hz, repeat_after_s=None,
                           realtime_priority=self.realtime_priority)
        self._clock = clock
        clock.start()

    def _send(self, universe: int, frame: bytes) -> None:
        port = self._port
        if port is None:
            raise DeviceError(self.id, "the port is closed", "open the light output")
        with self._io_lock:
            try:
                self._transmit(port, universe, frame)
            except serial.SerialException as exc:  # pyserial's write errors are not OSErrors
                raise DeviceError(self.id, f"writing to {self.port_url} failed: {exc}",
                                  "check the cable and that the interface is plugged in") from exc

    def set_universe(self, universe: int, levels: bytes) -> None:
        """Replace the frame of ``universe`` (512 levels); it goes out on the next tick.

        Raises ValueError for a universe this output does not carry or a frame that is not 512 levels,
        DeviceError when the output is not open.
        """
        if universe not in self.universes:
            raise ValueError(f"{self.id}: does not carry universe {universe} "
                             f"(carries {', '.join(map(str, self.universes))})")
        if len(levels) != 512:
            raise ValueError(f"{self.id}: a frame has 512 levels, got {len(levels)}")
        clock = self._clock
        if clock is None:
            raise DeviceError(self.id, f"cannot send: the {self._what} is not open", "open it first")
        clock.set_frame(universe, bytes(levels))

    def wait_sent(self, timeout_s: float) -> None:
        """Block until every universe's current frame was written to the port (DeviceTimeout otherwise)."""
        clock = self._clock
        if clock is None:
            raise DeviceError(self.id, f"cannot wait for frames: the {self._what} is not open", "open it first")
        clock.wait_sent(timeout_s)

    def require_not_streaming(self, query: str) -> None:
        """Refuse a device query while frames stream (a capture may be running)."""
        if self._clock is not None:
            raise DeviceError(self.id, f"refusing to {query} while DMX frames stream: a query reply would "
                                       "interleave with the frames and stall the light of a running capture",
                              "query the interface before open() finishes, or close the output first")

    def close(self) -> None:
        """Send the current frames once more, stop the clock and release the port; never raises."""
        clock, self._clock = self._clock, None
        try:
            if clock is not None:
                clock.stop(flush=True)
        except (OSError, DeviceError, serial.SerialException) as exc:
            log.warning("%s: last frames not sent on close: %s", self.id, exc)
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except (OSError, serial.SerialException) as exc:
                log.warning("%s: closing %s failed: %s", self.id, self.port_url, exc)
