"""A GRBL 1.1 turntable controller on a pty, turning the virtual studio's table.

:class:`GrblSimulator` serves a :class:`~capturerig_sim._grbl_machine.GrblMachine` (the controller's parser,
state, motion timing and alarms, with no I/O) on the master side of ``os.openpty()`` through the shared pty
transport (:mod:`capturerig_sim._serial_pty`): the driver opens the slave, or a symlink to it such as the rig's
``params.port``. Every byte goes to the machine as it arrives, so the real-time ``?``, ``!``, ``~`` and ctrl-x
act at once; a 5 ms tick lets motion run between commands. Moves run in real time multiplied by
``time_scale``; while the table turns the simulator sets ``studio.turntable_deg`` so the sim cameras render
where the table really is.

Tests inject faults: :meth:`~GrblSimulator.inject_alarm` (e.g. a hard limit mid-move), :attr:`silent`
(answers nothing) and :meth:`~GrblSimulator.garble` (answers noise).

A rig serves it with ``turntable: {driver: grbl, params: {port: /tmp/capturerig-sim/tt0, ...}}`` and
``simulation: {serve: [tt0], grbl: {time_scale: 1.0, home_deg: 0.0}}`` (see :mod:`capturerig_sim.wire`).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, ClassVar

from capturerig.config import TurntableConfig
from capturerig_sim._grbl_machine import BANNER, DEFAULT_SETTINGS, GrblMachine
from capturerig_sim._serial_pty import PtyTransport
from capturerig_sim.studio import VirtualStudio

__all__ = ["BANNER", "DEFAULT_SETTINGS", "GrblMachine", "GrblSimulator", "start_grbl"]


class GrblSimulator(PtyTransport):
    """A GRBL 1.1 controller with one rotary X axis on a pty (see the module docstring).

    Parameters
    ----------
    studio
        The virtual studio whose table this controller turns (None: no studio, e.g. protocol tests).
    link
        A path to create as a symlink to the pty slave (the rig's ``params.port``); None: use :attr:`path`.
    units_per_degree, homing, home_deg, time_scale, settings
        As for :class:`~capturerig_sim._grbl_machine.GrblMachine`.
    """

    tick_s: ClassVar[float | None] = 0.005
    port_owner: ClassVar[str] = "turntable"

    def __init__(self, studio: VirtualStudio | None = None, link: str | Path | None = None, *,
                 units_per_degree: float = 1.0, homing: bool = False, home_deg: float = 0.0,
                 time_scale: float = 1.0, settings: dict[int, float] | None = None) -> None:
        self.machine = GrblMachine(units_per_degree=units_per_degree, homing=homing, home_deg=home_deg,
                                   time_scale=time_scale, settings=settings,
                                   origin_deg=studio.turntable_deg if studio is not None else 0.0)
        super().__init__("grbl", link)
        self.studio = studio
        self.silent = False  # reads nothing and answers nothing (a dead controller or an unplugged cable)
        self._garbage: bytes | None = None
        self._lock = threading.RLock()

    # -- what tests read and set on the controller ---------------------------------------------------------

    @property
    def settings(self) -> dict[int, float]:
        """The controller's ``$N`` settings (a live dict: tests may change one as if stored in EEPROM)."""
        return self.machine.settings

    @property
    def received(self) -> list[str]:
        """Every line received, in order, as the controller read it (no spaces, comments cut)."""
        return self.machine.received

    @property
    def time_scale(self) -> float:
        """Wall seconds per machine second of motion (moves that begin after a change use the new scale)."""
        return self.machine.time_scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        self.machine.time_scale = value

    def machine_x(self, now: float | None = None) -> float:
        """Machine X now (units)."""
        with self._lock:
            return self.machine.machine_x(time.monotonic() if now is None else now)

    def table_deg(self) -> float:
        """The table's physical angle now (degrees)."""
        with self._lock:
            return self.machine.table_deg(time.monotonic())

    def state(self) -> str:
        """GRBL's machine state as the status report names it (``Idle``, ``Run``, ``Hold:0``, ``Alarm``...)."""
        with self._lock:
            now = time.monotonic()
            state = self.machine.state(now)
            self._flush(now)
            return state

    # -- faults --------------------------------------------------------------------------------------------

    def inject_alarm(self, code: int = 1, after_deg: float | None = None) -> None:
        """Raise ``ALARM:code`` now (``after_deg`` None) or once a G0/G1 move has turned ``after_deg`` degrees
        (at the end of the first move that turns at all, if it is shorter).

        Code 1 (hard limit) and 2 (soft limit) lock the controller until a reset, as GRBL does.
        """
        with self._lock:
            now = time.monotonic()
            self.machine.inject_alarm(code, after_deg, now)
            self._flush(now)

    def inject_feed_hold(self, after_deg: float) -> None:
        """Press feed hold (``!``) once the next G0/G1 move has turned ``after_deg`` degrees."""
        with self._lock:
            self.machine.inject_feed_hold(after_deg)

    def garble(self, data: bytes | None) -> None:
        """Answer every reply with ``data`` instead (wrong baud rate, another device); None: answer normally."""
        with self._lock:
            self._garbage = data

    # -- transport -----------------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Handle bytes as if the driver wrote them (the serving thread calls this)."""
        with self._lock:
            now = time.monotonic()
            self.machine.feed(data, now)
            self._flush(now)

    def _on_start(self) -> None:
        with self._lock:
            self.machine.power_up()
            self._flush(time.monotonic())

    def _on_bytes(self, data: bytes, received_at: float) -> None:
        if not self.silent:
            self.feed(data)

    def _on_tick(self) -> None:
        with self._lock:
            now = time.monotonic()
            self.machine.tick(now)
            self._flush(now)

    def _flush(self, now: float) -> None:
        """Send what the machine printed (one write each, as GRBL does) and show the studio the table."""
        for text in self.machine.drain():
            self._send(text)
        if self.studio is not None:
            self.studio.turntable_deg = self.machine.table_deg(now)

    def _send(self, text: str) -> None:
        if self.silent:
            return
        self.reply(self._garbage if self._garbage is not None else text.encode("ascii"))


def start_grbl(studio: VirtualStudio, config: TurntableConfig) -> GrblSimulator:
    """Wire-simulator starter: serve ``config``'s GRBL turntable at its ``params.port`` for ``studio``.

    Simulator options come from the rig's ``simulation.grbl`` mapping: ``time_scale`` (default 1.0, real
    speed), ``home_deg`` (0.0) and ``settings`` ($N overrides); ``homing`` and ``units_per_degree`` follow the
    turntable's own params.
    """
    options: Any = studio.rig.simulation.get("grbl", {}) or {}
    if not isinstance(options, dict):
        raise ValueError(f"rig '{studio.rig.name}' simulation.grbl: must be a mapping, got {options!r}")
    port = config.params.get("port")
    if not isinstance(port, str) or not port:
        raise ValueError(f"rig '{studio.rig.name}' turntable '{config.id}': params.port is missing")
    settings = {int(k): float(v) for k, v in dict(options.get("settings", {}) or {}).items()}
    simulator = GrblSimulator(studio, port, units_per_degree=float(config.params.get("units_per_degree", 1.0)),
                              homing=bool(config.params.get("homing", False)),
                              home_deg=float(options.get("home_deg", 0.0)),
                              time_scale=float(options.get("time_scale", 1.0)), settings=settings)
    return simulator.start()
