"""The capturerig trigger box on a pty: the firmware's command semantics, wired to the virtual studio.

:class:`~capturerig_sim._triggerbox_logic.TriggerBoxLogic` is the firmware (``parser.c``) without I/O;
:class:`TriggerBoxSimulator` serves it on the master side of ``os.openpty()`` through the shared pty transport
(:mod:`capturerig_sim._serial_pty`) and makes the slave reachable at a path (a symlink, e.g. the rig's
``params.port``), so the real driver talks to it through pyserial. A FIRE fires the simulated cameras wired to
the fired outputs through ``studio.fire`` at t0 + the output's delay (scaled by the studio's time scale), and
each camera that exposed reports a flash-sync edge at delay + its modelled trigger latency
(:func:`capturerig_sim._latency.trigger_latency_ms`: the body's latency plus a per-serial offset).

A rig serves it with ``trigger: {driver: serial-box, params: {port: /tmp/capturerig-sim/trig0,
outputs: {cam00: 0, ...}}}`` and ``simulation: {serve: [trig0]}`` (see :mod:`capturerig_sim.wire`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from capturerig.config import DeviceConfig, load_body_profile
from capturerig_sim._latency import trigger_latency_ms
from capturerig_sim._serial_pty import PtyTransport
from capturerig_sim._triggerbox_logic import ERROR_TEXTS, FW_VERSION, LINE_MAX, MAX_OUTPUTS, U32, TriggerBoxLogic
from capturerig_sim.studio import VirtualStudio

__all__ = [
    "ERROR_TEXTS",
    "FW_VERSION",
    "LINE_MAX",
    "MAX_OUTPUTS",
    "TriggerBoxLogic",
    "TriggerBoxSimulator",
    "output_map",
    "start_triggerbox",
]


def output_map(config: DeviceConfig) -> dict[str, int]:
    """The trigger's ``params.outputs`` (camera id -> output number); ValueError when malformed."""
    raw = config.params.get("outputs")
    if not isinstance(raw, Mapping) or not raw:
        raise ValueError(f"{config.id}: params.outputs must map camera ids to output numbers, got {raw!r}")
    result = {}
    for camera_id, output in raw.items():
        if not isinstance(output, int) or isinstance(output, bool) or not 0 <= output < MAX_OUTPUTS:
            raise ValueError(f"{config.id}: params.outputs.{camera_id} must be an output number 0..15, "
                             f"got {output!r}")
        result[str(camera_id)] = output
    return result


class TriggerBoxSimulator(PtyTransport):
    """The trigger box on a pty, firing ``studio``'s cameras.

    Parameters
    ----------
    studio
        The virtual studio whose cameras the outputs are wired to.
    outputs
        Camera id -> output number (several cameras may share an output, as with a splitter cable).
    link
        Where to make the pty reachable (a symlink, replaced if it is one; parents are created).
        None: use :attr:`path` (the slave's /dev/pts path) directly.
    serial, n_outputs
        What ``ID?`` reports.
    device_id
        The trigger's id in the rig: a pending ``disconnect`` fault for it swallows the next command (silence).
    """

    tick_s: ClassVar[float | None] = 0.02  # the firmware's watchdog pass
    port_owner: ClassVar[str] = "trigger"

    def __init__(self, studio: VirtualStudio, outputs: Mapping[str, int], link: str | Path | None = None,
                 serial: str = "SIMTRIG0", n_outputs: int = MAX_OUTPUTS, device_id: str = "trigger") -> None:
        super().__init__(device_id, link)
        self.studio = studio
        self.device_id = device_id
        self._cameras_by_output: dict[int, list[str]] = {}
        for camera_id, output in outputs.items():
            self._cameras_by_output.setdefault(output, []).append(camera_id)
        self._epoch = time.monotonic()
        self.logic = TriggerBoxLogic(n_outputs, serial, self.now_us())
        self._lock = threading.Lock()
        self._timers: list[threading.Timer] = []
        self._garbage: list[bytes] = []
        self._latencies: dict[tuple[str, str], float] = {}
        self._pending = b""
        self.received: list[str] = []  # every command line, for tests

    def now_us(self) -> int:
        """The box clock (microseconds since the simulator started, wrapping at 2^32)."""
        return int((time.monotonic() - self._epoch) * 1e6) & U32

    def box_to_monotonic(self, t_us: int) -> float:
        """time.monotonic() of box time ``t_us`` (the latest such instant not after now)."""
        elapsed = (self.now_us() - t_us) & U32
        return time.monotonic() - elapsed / 1e6

    def inject_reply(self, data: bytes) -> None:
        """Send ``data`` instead of the reply to the next command (garbage, truncated lines: tests)."""
        with self._lock:
            self._garbage.append(data)

    def _on_bytes(self, data: bytes, received_at: float) -> None:
        with self._lock:
            for byte in data:
                if byte == 0x0A:
                    self.received.append(self._pending.decode("ascii", "replace"))
                    self._pending = b""
                else:
                    self._pending = self._pending[-256:] + bytes([byte])
                reply = self.logic.feed(byte, self.now_us())
                if reply is not None:
                    self._answer(reply)
            self._watchdog()

    def _on_tick(self) -> None:
        with self._lock:
            self._watchdog()

    def _watchdog(self) -> None:
        notice = self.logic.tick(self.now_us())
        if notice is not None:
            self.reply(notice.encode() + b"\n")

    def _answer(self, reply: str) -> None:
        if self.studio.take_fault(self.device_id, "disconnect"):
            return  # the box stays silent: the driver must time out
        if reply.startswith("FIRED ") and self.studio.take_fault(self.device_id, "trigger_reset"):
            # A brown-out on the pulse resets the board: the FIRE is lost, every output is released, the
            # settings (delays, pulse, watchdog) are back to their defaults; the host sees only the notice.
            self.logic = TriggerBoxLogic(self.logic.outputs, self.logic.serial, self.now_us())
            self.reply(f"! BOOT capturerig-trigger {FW_VERSION}\n".encode())
            return
        if reply.startswith("FIRED "):
            self._fire()
        if self._garbage:
            self.reply(self._garbage.pop(0))
            return
        self.reply(reply.encode() + b"\n")

    def _fire(self) -> None:
        """Fire the cameras of the fired outputs, grouped by delay; delay-0 outputs before the reply goes out."""
        logic = self.logic
        groups: dict[int, list[int]] = {}
        for output in range(logic.outputs):
            if logic.fire_mask >> output & 1 and output in self._cameras_by_output:
                groups.setdefault(logic.fire_delay_us[output], []).append(output)
        t0_monotonic = self.box_to_monotonic(logic.t0_us)
        t0_us = logic.t0_us
        for delay_us, outputs in sorted(groups.items()):
            at = t0_monotonic + self.studio.wall_seconds(delay_us / 1e6)
            wait = at - time.monotonic()
            if wait <= 0.0:
                self._fire_outputs(outputs, t0_us, delay_us, at)
            else:
                timer = threading.Timer(wait, self._fire_outputs_locked, (outputs, t0_us, delay_us, at))
                timer.daemon = True
                self._timers = [t for t in self._timers if t.is_alive()] + [timer]
                timer.start()

    def _fire_outputs_locked(self, outputs: list[int], t0_us: int, delay_us: int, at: float) -> None:
        with self._lock:
            if self.logic.t0_us == t0_us and self.logic.firing:  # not released or superseded meanwhile
                self._fire_outputs(outputs, t0_us, delay_us, at)

    def _latency_ms(self, camera_id: str) -> float:
        camera = self.studio.rig.camera(camera_id)
        key = (camera.serial, camera.body)
        if key not in self._latencies:  # cached: parsing the body profile takes milliseconds
            body = load_body_profile(camera.body, self.studio.base_dir)
            self._latencies[key] = trigger_latency_ms(camera.serial, body.trigger_latency_ms)
        return self._latencies[key]

    def _fire_outputs(self, outputs: list[int], t0_us: int, delay_us: int, at: float) -> None:
        """Pulse ``outputs`` as the box did at ``at`` (time.monotonic(): its timer is exact, this thread may
        be late)."""
        cameras = [camera_id for output in outputs for camera_id in self._cameras_by_output[output]]
        _, exposed = self.studio.pulse(cameras, at)  # on a multihost rig, other hosts' cameras too
        exposed_set = set(exposed)
        for output in outputs:
            latencies = []
            for camera_id in self._cameras_by_output[output]:
                if camera_id not in exposed_set:
                    continue
                latencies.append(self._latency_ms(camera_id))
            if latencies:  # the first flash on a shared output wins, as on the real input
                self.logic.sync_edge(output, (t0_us + delay_us + round(min(latencies) * 1000)) & U32)

    def stop(self) -> None:
        """Stop serving (and the outputs' pending pulses), remove the link and close the pty; never raises."""
        for timer in self._timers:
            timer.cancel()
        super().stop()


def start_triggerbox(studio: VirtualStudio, config: DeviceConfig) -> TriggerBoxSimulator:
    """Wire-simulator starter (:mod:`capturerig_sim.wire`): serve the rig's trigger box at ``params.port``.

    The simulated box's own options come from the rig's ``simulation.triggerbox`` mapping (the driver's params
    hold only what a real box needs): ``outputs`` (how many it has, default 16) and ``serial`` (what ``ID?``
    reports, default SIMTRIG0).

    Raises
    ------
    ValueError
        When ``params.port`` is missing, ``params.outputs`` is malformed or ``simulation.triggerbox`` is not a
        mapping.
    """
    port = config.params.get("port")
    if not isinstance(port, str) or not port:
        raise ValueError(f"{config.id}: params.port must name where the simulated box appears, got {port!r}")
    outputs = output_map(config)
    options = studio.rig.simulation.get("triggerbox") or {}
    if not isinstance(options, Mapping):
        raise ValueError(f"rig '{studio.rig.name}' simulation.triggerbox: must be a mapping, got {options!r}")
    return TriggerBoxSimulator(studio, outputs, link=port, serial=str(options.get("serial", "SIMTRIG0")),
                               n_outputs=int(options.get("outputs", MAX_OUTPUTS)), device_id=config.id).start()
