"""Open DMX driver (``driver: opendmx``): an FTDI USB-serial chip that the host drives as a DMX512 line.

The host makes every part of the DMX512 frame itself: 250000 baud, 8 data bits, no parity, 2 stop bits;
a break (line held low) of at least 92 us via ``break_condition``, a mark-after-break of at least 12 us,
then start code 0 and 512 slots. The frame goes out on every clock tick (a DMX line must be refreshed).

Rig params: :class:`OpenDmxParams` (``port`` is required; ``rate_hz`` at most 44: 513 slots x 44 us = 22.6 ms
per frame).

``break_marker`` is for the simulator only: a pty or ``loop://`` port carries no break to the other side, so
the Open DMX simulator cannot see where a frame starts. With ``break_marker: true`` the driver still toggles
``break_condition`` (tolerating the errno a pty gives) and then writes :data:`BREAK_MARKER` in-band before the
start code. The driver refuses it on any other port, so a real FTDI line never carries the marker (a fixture
would read it as slot data).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import serial
from pydantic import Field

from capturerig.config import LightOutputConfig
from capturerig.devices._registry import DriverContext
from capturerig.devices._serial_output import PTY_ERRNOS, SerialLightOutput, SerialLightParams, is_simulated_port
from capturerig.devices.protocols import DeviceError

__all__ = ["BAUD_RATE", "BREAK_MARKER", "MIN_BREAK_US", "MIN_MAB_US", "OpenDmxOutput", "OpenDmxParams", "dmx_frame"]

log = logging.getLogger(__name__)

BAUD_RATE = 250_000
MIN_BREAK_US = 92.0  # DMX512 (ANSI E1.11) transmitter minimum
MIN_MAB_US = 12.0
# Stands in for the break on a simulator's pty: bytes that open every frame there, never on a real line.
BREAK_MARKER = b"\xffBREAK\xff"
_SLOTS = 512


def dmx_frame(levels: bytes) -> bytes:
    """Start code 0 followed by 512 slots (``levels`` padded with zeros; more than 512 raises ValueError)."""
    if len(levels) > _SLOTS:
        raise ValueError(f"a DMX frame carries at most {_SLOTS} slots, got {len(levels)}")
    return b"\x00" + bytes(levels) + bytes(_SLOTS - len(levels))


class OpenDmxParams(SerialLightParams):
    """An Open DMX interface's rig params (``driver: opendmx``)."""

    break_us: float = Field(110.0, ge=MIN_BREAK_US, le=1000.0, description="the DMX break, microseconds")
    mab_us: float = Field(16.0, ge=MIN_MAB_US, le=1000.0, description="the mark-after-break, microseconds")
    break_marker: bool = Field(False, description="simulator only: mark each frame's start in-band on a pty or "
                                                  "loop:// port (refused on any other port)")


def _hold(seconds: float) -> None:
    """Wait at least ``seconds``; short waits spin, because a sleep overshoots by tens of microseconds and
    would stretch a 16 us mark-after-break several-fold."""
    end = time.perf_counter() + seconds
    if seconds > 0.002:
        time.sleep(seconds - 0.001)
    while time.perf_counter() < end:
        pass


class OpenDmxOutput(SerialLightOutput):
    """One DMX universe through an FTDI "Open DMX" interface (see the module docstring for params).

    ``last_break_us`` and ``last_mab_us`` hold the break and mark-after-break the last frame really got.
    """

    _what = "Open DMX interface"
    Params = OpenDmxParams

    def __init__(self, config: LightOutputConfig, context: DriverContext) -> None:
        params = OpenDmxParams.of(config, context.rig)
        super().__init__(config, context, params)
        if len(config.universes) != 1:
            raise DeviceError(config.id, f"an Open DMX interface drives one universe, the rig gives "
                                         f"{len(config.universes)}", "list one universe per interface")
        self.break_s = params.break_us / 1e6
        self.mab_s = params.mab_us / 1e6
        self.break_marker = params.break_marker
        if self.break_marker and not is_simulated_port(self.port_url):
            raise DeviceError(config.id, f"params.break_marker is for the Open DMX simulator only, but "
                                         f"{self.port_url} is not a pty or loop:// port; a real line would "
                                         "carry the marker as slot data", "remove break_marker from the rig file")
        self.last_break_us = 0.0
        self.last_mab_us = 0.0

    def _port_settings(self) -> dict[str, Any]:
        return {"baudrate": BAUD_RATE, "bytesize": serial.EIGHTBITS, "parity": serial.PARITY_NONE,
                "stopbits": serial.STOPBITS_TWO, "timeout": 0.05, "write_timeout": 1.0}

    def _set_break(self, port: serial.SerialBase, on: bool) -> None:
        try:
            port.break_condition = on
        except OSError as exc:
            # Only the simulator's pty may refuse the break ioctl; on a real port that is a broken line.
            if not (self.break_marker and exc.errno in PTY_ERRNOS):
                raise DeviceError(self.id, f"cannot {'set' if on else 'clear'} the DMX break on "
                                           f"{self.port_url}: {exc}",
                                  "check that the port is an FTDI-based Open DMX interface") from exc

    def _transmit(self, port: serial.SerialBase, universe: int, frame: bytes) -> None:
        data = dmx_frame(frame)
        port.flush()  # the break must follow the previous frame's last stop bit, not cut into it
        self._set_break(port, True)
        started = time.perf_counter()
        _hold(self.break_s)
        broke = time.perf_counter()
        self._set_break(port, False)
        _hold(self.mab_s)
        marked = time.perf_counter()
        self.last_break_us, self.last_mab_us = (broke - started) * 1e6, (marked - broke) * 1e6
        port.write(BREAK_MARKER + data if self.break_marker else data)
