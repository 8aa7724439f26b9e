"""The virtual studio: the one world that every sim device of a process shares, found by name.

It holds what the hardware would hold: the DMX frames on each light output's wire, the turntable angle (and
its motion), the cameras' cards, settings and armed state, the exposures the trigger made, and the faults
a test asked for; and what stands on the stage: the subject (or not) and planar props such as a calibration
board, which a simulated operator may move before each exposure. Drivers change it; the renderer reads it;
tests inspect it.

The studio's technician does what the engine's pose prompt asks of a real one: the cameras learn which take
each exposure is for (the ``ExposureLabels`` capability), and before the first exposure of the clean plates
(pose ``plate``) the subject steps out of the rig, and back in before the next exposure of a subject pose.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from capturerig.config import DMX_UNIVERSE_SIZE, PLATE_POSE_ID, ChannelRole, RigConfig
from capturerig.lighting import UniverseKey, decode_fixture
from capturerig_sim._faults import FAULT_KINDS, FaultInjector, FaultKind
from capturerig_sim._props import PlanarProp
from capturerig_sim._studio_records import (
    DEFAULT_CARD_BYTES,
    TIME_SCALE_ENV,
    BusLink,
    CameraState,
    ExposureRecord,
    ExposureTiming,
    StudioOperator,
    StudioPublisher,
    StudioRole,
    time_scale_from_env,
)

__all__ = [
    "DEFAULT_CARD_BYTES",
    "FAULT_KINDS",
    "TIME_SCALE_ENV",
    "CameraState",
    "ExposureRecord",
    "ExposureTiming",
    "FaultKind",
    "StudioOperator",
    "StudioPublisher",
    "StudioRole",
    "VirtualStudio",
    "get_studio",
    "reset_studios",
    "time_scale_from_env",
]

_EXPOSURE_LOG_SIZE = 10_000  # enough for a long session; bounded so a long-running server does not grow
_FRAME_HISTORY = 256  # frames kept per universe, so an exposure delivered later still sees its own light




@dataclass
class _Armed:
    settings: Mapping[str, str]
    bytes_needed: int
    timing: ExposureTiming
    left: int  # trigger pulses it still exposes on


@dataclass
class _HeldFrame:
    previous: bytes
    current: bytes
    on_wire_at: float  # time.monotonic() from which ``current`` is what the fixtures see


@dataclass(frozen=True)
class _Motion:
    start_deg: float
    target_deg: float
    start: float  # time.monotonic()
    end: float

    def angle_at(self, now: float) -> float:
        """The angle at ``now`` (time.monotonic()), moving at constant speed."""
        if now >= self.end or self.end <= self.start:
            return self.target_deg
        fraction = max(0.0, (now - self.start) / (self.end - self.start))
        return self.start_deg + (self.target_deg - self.start_deg) * fraction


class VirtualStudio:
    """The shared simulated world of one studio name (see :func:`get_studio`).

    Parameters
    ----------
    name
        The studio's name (a device's ``params.studio``, default ``"default"``).
    rig
        The rig that describes the studio (fixtures, cameras); the newest one given to :func:`get_studio`.
    base_dir
        Where the rig file lives (relative profile paths).
    time_scale
        Multiplies every modelled latency (trigger, exposure, card write, download, turntable, DMX frame);
        0 means nothing sleeps. None reads ``CAPTURERIG_SIM_TIME_SCALE`` (default 1.0). Assignable.
    """

    def __init__(self, name: str, rig: RigConfig, base_dir: Path, time_scale: float | None = None) -> None:
        self.name = name
        self.rig = rig
        self.base_dir = base_dir
        self.time_scale = time_scale_from_env() if time_scale is None else time_scale
        self.faults = FaultInjector.from_env()  # a chaos run hands its child processes a schedule
        self._lock = threading.RLock()
        self._fired = threading.Condition(self._lock)
        self._frames: dict[UniverseKey, _HeldFrame] = {}
        self._history: dict[UniverseKey, deque[tuple[float, bytes]]] = {}  # (on the wire from, frame)
        self._motion = _Motion(0.0, 0.0, 0.0, 0.0)
        self._cameras: dict[str, CameraState] = {}
        self._armed: dict[str, _Armed] = {}
        self._pending: dict[str, deque[ExposureRecord]] = {}  # oldest first: a burst queues several
        self._last_exposure: dict[str, float] = {}  # camera -> time.monotonic() of its last shutter opening
        self._log: deque[ExposureRecord] = deque(maxlen=_EXPOSURE_LOG_SIZE)
        self._seq = itertools.count()
        self._props: tuple[PlanarProp, ...] = ()
        self._subject_present = True
        self._cleared_for_plates = False  # the technician took the subject out for the plates (and brings it back)
        self._labels: dict[str, deque[str]] = {}  # camera -> the take ids of its next exposures, oldest first
        self._room_light = 0.0
        self._operator: StudioOperator | None = None
        self.publisher: StudioPublisher | None = None  # set on the controller of a multihost rig (studio_bus)
        self.mirror: BusLink | None = None  # set in an agent process: what follows the publisher's bus

    @property
    def bus_role(self) -> StudioRole:
        """``publisher`` (the controller's studio of a multihost rig), ``mirror`` (an agent's) or ``local``."""
        return "publisher" if self.publisher is not None else "mirror" if self.mirror is not None else "local"

    # -- time --------------------------------------------------------------------------------------------

    def wall_seconds(self, studio_seconds: float) -> float:
        """Wall-clock seconds that ``studio_seconds`` of modelled hardware time take at this time scale."""
        return 0.0 if self.time_scale == 0.0 else studio_seconds * self.time_scale

    def sleep(self, studio_seconds: float) -> None:
        """Sleep for ``studio_seconds`` of modelled time (not at all when the time scale is 0)."""
        wall = self.wall_seconds(studio_seconds)
        if wall > 0.0:
            time.sleep(wall)

    # -- faults ------------------------------------------------------------------------------------------

    def inject_fault(self, device_id: str, kind: str, count: int = 1) -> None:
        """Make ``device_id`` fail ``count`` times with ``kind`` (one of :data:`FAULT_KINDS`), then recover.

        ``disconnect``: the next call raises DeviceError. ``busy``: the next ``arm``/``trigger_capture``
        raises DeviceError saying busy. ``slow_download``: the next ``wait_for_files`` raises DeviceTimeout
        after its timeout. ``corrupt_download``: the next downloaded file does not decode as JPEG.
        ``card_full``: the next exposure fails with DeviceError.

        Raises
        ------
        ValueError
            For an unknown kind or a count below 1.
        """
        self.faults.inject(device_id, kind, count)

    def take_fault(self, device_id: str, kind: FaultKind) -> bool:
        """Consume one pending fault (drivers call this); True when it should fire now."""
        return self.faults.take(device_id, kind)

    def pending_faults(self) -> dict[tuple[str, str], int]:
        """Faults not yet fired: ``(device_id, kind) -> count``."""
        return self.faults.pending()

    # -- lights ------------------------------------------------------------------------------------------

    def set_frame(self, output_id: str, universe: int, levels: bytes, on_wire_after_s: float = 0.0) -> None:
        """Replace the frame ``output_id`` sends on ``universe``; fixtures see it ``on_wire_after_s`` later.

        ``on_wire_after_s`` is modelled time (scaled), e.g. one DMX frame period; until then the fixtures
        keep showing the previous frame, so a capture fired before the frame went out shows the old light.
        """
        if len(levels) != DMX_UNIVERSE_SIZE:
            raise ValueError(f"{output_id}: universe {universe} needs {DMX_UNIVERSE_SIZE} levels, got {len(levels)}")
        now = time.monotonic()
        key = (output_id, universe)
        with self._lock:
            held = self._frames.get(key)
            before = bytes(DMX_UNIVERSE_SIZE) if held is None else self._visible(held, now)
            on_wire_at = now + self.wall_seconds(on_wire_after_s)
            self._frames[key] = _HeldFrame(before, bytes(levels), on_wire_at)
            history = self._history.setdefault(key, deque([(-math.inf, before)], maxlen=_FRAME_HISTORY))
            while len(history) > 1 and history[-1][0] > on_wire_at:  # replaced before it went out
                history.pop()
            history.append((on_wire_at, bytes(levels)))

    def exposure_light(self, record: ExposureRecord) -> tuple[dict[UniverseKey, bytes], bool]:
        """The DMX frames the fixtures showed while ``record``'s shutter was open, and whether they changed then.

        A change during the exposure gives each level weighted by how long it was shown (a real sensor
        integrates the light); an exposure with no window (older records) sees the frames of its pulse.
        """
        start, end = record.exposure_start, record.exposure_end
        frames = dict(record.frames)
        if end <= start:
            return frames, False
        changed = False
        with self._lock:
            for key, history in self._history.items():
                entries = list(history)
                before = [frame for at, frame in entries if at <= start]
                if not before:  # older than the history: the pulse's snapshot is the best known
                    continue
                shown = [(start, before[-1])] + [(at, frame) for at, frame in entries if start < at < end]
                if len(shown) == 1 or all(frame == shown[0][1] for _, frame in shown):
                    frames[key] = shown[0][1]
                    continue
                changed = True
                weights = [(next_at - at) / (end - start)
                           for (at, _), (next_at, _) in zip(shown, [*shown[1:], (end, b"")], strict=True)]
                mixed = [sum(w * frame[i] for w, (_, frame) in zip(weights, shown, strict=True))
                         for i in range(DMX_UNIVERSE_SIZE)]
                frames[key] = bytes(min(255, round(level)) for level in mixed)
        return frames, changed

    def neighbour_light(self, record: ExposureRecord, step: int) -> dict[UniverseKey, bytes] | None:
        """The frames of the lighting state before (``step`` -1) or after (+1) the one ``record`` was exposed
        under, per universe (a universe with no other state keeps its own); None for +1 when no universe has
        changed since the exposure yet. For the ``silent_fixture`` and ``late_fire`` faults."""
        start = record.exposure_start if record.exposure_end > record.exposure_start else record.fired_monotonic
        end = max(record.exposure_end, start)
        frames = dict(record.frames)
        changed = False
        with self._lock:
            for key, history in self._history.items():
                entries = list(history)
                shown = [index for index, (at, _) in enumerate(entries) if at <= start]
                if not shown:
                    continue
                current = entries[shown[-1]][1]
                if step < 0:
                    older = [frame for _, frame in entries[: shown[-1]] if frame != current]
                    if older:
                        frames[key], changed = older[-1], True
                else:
                    later = [frame for at, frame in entries if at > end and frame != current]
                    if later:
                        frames[key], changed = later[0], True
        return frames if changed or step < 0 else None

    def frame_changes(self) -> list[float]:
        """When (time.monotonic()) the fixtures saw a new frame on any universe, oldest first (the newest
        changes per universe; a frame replaced before it went out was never seen)."""
        with self._lock:
            return sorted(at for history in self._history.values()
                          for (at, frame), (_, before) in zip(list(history)[1:], history, strict=False)
                          if frame != before)

    @staticmethod
    def _visible(held: _HeldFrame, now: float) -> bytes:
        return held.current if now >= held.on_wire_at else held.previous

    def held_frames(self) -> dict[UniverseKey, bytes]:
        """The frame every universe carries on the wire now (blackout for universes never sent).

        Every universe of the rig's light outputs is present, plus any other universe a driver sent.
        """
        now = time.monotonic()
        with self._lock:
            frames = {(o.id, u): bytes(DMX_UNIVERSE_SIZE) for o in self.rig.light_outputs for u in o.universes}
            frames.update({key: self._visible(held, now) for key, held in self._frames.items()})
        return frames

    def held_frame(self, output_id: str, universe: int) -> bytes:
        """The frame ``output_id`` carries on ``universe`` now (512 bytes, blackout if never sent)."""
        return self.held_frames().get((output_id, universe), bytes(DMX_UNIVERSE_SIZE))

    def fixture_levels(self, fixture_id: str) -> dict[ChannelRole, float]:
        """A rig fixture's levels (role -> 0..1) as decoded from the frame its output holds now.

        Raises
        ------
        KeyError
            When the rig has no such fixture.
        """
        for fixture in self.rig.fixtures:
            if fixture.id == fixture_id:
                return decode_fixture(fixture, self.held_frames(), self.base_dir)
        raise KeyError(f"studio '{self.name}' (rig {self.rig.name}) has no fixture '{fixture_id}'")

    # -- turntable ---------------------------------------------------------------------------------------

    @property
    def turntable_deg(self) -> float:
        """The table angle now (degrees; mid-way while it moves)."""
        with self._lock:
            return self._motion.angle_at(time.monotonic())

    @turntable_deg.setter
    def turntable_deg(self, angle_deg: float) -> None:
        """Put the table at ``angle_deg`` at once (tests; drivers use :meth:`start_turntable_motion`)."""
        with self._lock:
            unchanged = self._motion == _Motion(angle_deg, angle_deg, 0.0, 0.0)
            self._motion = _Motion(angle_deg, angle_deg, 0.0, 0.0)
        if not unchanged:  # the GRBL simulator sets the angle on every tick, moving or not
            self._publish_motion()

    def start_turntable_motion(self, target_deg: float, wall_duration_s: float) -> None:
        """Start turning from the current angle to ``target_deg``, arriving ``wall_duration_s`` from now."""
        now = time.monotonic()
        with self._lock:
            self._motion = _Motion(self._motion.angle_at(now), target_deg, now, now + max(0.0, wall_duration_s))
        self._publish_motion()

    def turntable_motion(self) -> tuple[float, float, float, float]:
        """The table's motion: (start angle, target angle, start, end), times in time.monotonic()."""
        with self._lock:
            motion = self._motion
        return motion.start_deg, motion.target_deg, motion.start, motion.end

    def follow_turntable_motion(self, start_deg: float, target_deg: float, start: float, end: float) -> None:
        """Turn as another host's studio says (times in this process's time.monotonic()); a mirror's call."""
        with self._lock:
            self._motion = _Motion(start_deg, target_deg, start, max(start, end))

    def _publish_motion(self) -> None:
        publisher = self.publisher
        if publisher is None:
            return
        start_deg, target_deg, start, end = self.turntable_motion()
        wall_now, now = time.time(), time.monotonic()
        publisher.motion(start_deg, target_deg, wall_now - (now - start), end - start)

    def turntable_moving(self) -> bool:
        """True while a move is under way (a move outlives the driver call that timed out on it)."""
        with self._lock:
            return time.monotonic() < self._motion.end

    # -- the stage ---------------------------------------------------------------------------------------

    @property
    def props(self) -> tuple[PlanarProp, ...]:
        """The planar props on the stage now (each exposure records the props of its instant)."""
        with self._lock:
            return self._props

    def set_props(self, props: Iterable[PlanarProp]) -> None:
        """Put ``props`` on the stage in place of the ones there (an empty list clears it)."""
        props = tuple(props)
        for prop in props:
            if not isinstance(prop, PlanarProp):
                raise TypeError(f"studio '{self.name}': a prop must be a PlanarProp, got {type(prop).__name__}")
        with self._lock:
            self._props = props

    @property
    def subject_present(self) -> bool:
        """Whether the mannequin stands on the turntable (False for a calibration capture)."""
        with self._lock:
            return self._subject_present

    @subject_present.setter
    def subject_present(self, present: bool) -> None:
        with self._lock:
            self._subject_present = bool(present)
            self._cleared_for_plates = False  # the stage set by hand: the technician brings nothing back
        self._publish_scene()

    @property
    def room_light(self) -> float:
        """Irradiance the studio's house lights add to every surface (0: off; the fixtures alone light it)."""
        with self._lock:
            return self._room_light

    @room_light.setter
    def room_light(self, irradiance: float) -> None:
        if not (irradiance >= 0.0 and math.isfinite(irradiance)):
            raise ValueError(f"studio '{self.name}': room_light must be a finite number >= 0, got {irradiance!r}")
        with self._lock:
            self._room_light = float(irradiance)
        self._publish_scene()

    def _publish_scene(self) -> None:
        publisher = self.publisher
        if publisher is not None:
            with self._lock:
                subject, room = self._subject_present, self._room_light
            publisher.scene(subject, room)

    @property
    def operator(self) -> StudioOperator | None:
        """The simulated operator acting before each exposure, if any."""
        with self._lock:
            return self._operator

    def set_operator(self, operator: StudioOperator | None) -> None:
        """Let ``operator`` act before every trigger from now on (None: nobody on the stage acts)."""
        with self._lock:
            self._operator = operator

    # -- cameras -----------------------------------------------------------------------------------------

    def camera_state(self, camera_id: str, capacity_bytes: int = DEFAULT_CARD_BYTES) -> CameraState:
        """The body state of ``camera_id`` (created on first use with a card of ``capacity_bytes``).

        Mutate it only while holding :attr:`lock`.
        """
        with self._lock:
            state = self._cameras.get(camera_id)
            if state is None:
                state = self._cameras[camera_id] = CameraState(capacity_bytes)
            return state

    @property
    def lock(self) -> threading.RLock:
        """The lock that guards the studio's state (and the camera states it hands out)."""
        return self._lock

    def arm(self, camera_id: str, settings: Mapping[str, str], bytes_needed: int, exposures: int = 1,
            timing: ExposureTiming | None = None) -> None:
        """Make ``camera_id`` expose on each of the next ``exposures`` triggers that name it (a burst queues
        them, oldest delivered first). A single shot forgets an undelivered exposure; a burst keeps them."""
        with self._lock:
            self._armed[camera_id] = _Armed(MappingProxyType(dict(settings)), bytes_needed,
                                            timing or ExposureTiming(), exposures)
            if exposures == 1:
                self._pending.pop(camera_id, None)

    def label_exposures(self, camera_id: str, take_ids: Iterable[str]) -> None:
        """The next exposures of ``camera_id`` (its next arm's, in order) are for these takes (the engine says
        so through the cameras' ``ExposureLabels``); each exposure records its take, and those of the clean
        plates have the rig cleared first (see the module's docstring)."""
        with self._lock:
            self._labels[camera_id] = deque(take_ids)

    def _stage_for(self, take_ids: Iterable[str]) -> None:
        """The technician answers the pose prompt before these exposures: the rig cleared for the clean plates,
        the subject brought back for a subject pose (only a subject it took out: a calibration stage stays)."""
        poses = {take_id.split("/", 1)[0] for take_id in take_ids}
        if PLATE_POSE_ID in poses:
            if self._subject_present:
                self._subject_present, self._cleared_for_plates = False, True
        elif poses and self._cleared_for_plates:
            self._subject_present, self._cleared_for_plates = True, False

    def disarm(self, camera_id: str) -> None:
        """``camera_id`` no longer exposes on a trigger (closing a camera does this); a download waiting for its
        exposure stops waiting."""
        with self._lock:
            self._armed.pop(camera_id, None)
            self._fired.notify_all()

    def armed(self) -> frozenset[str]:
        """Cameras that will expose on the next trigger naming them."""
        with self._lock:
            return frozenset(self._armed)

    def pulse(self, camera_ids: Iterable[str], at: float | None = None) -> tuple[float, list[str]]:
        """A trigger box's pulse on the cables of ``camera_ids``: :meth:`fire` here, and on a publisher studio
        the same pulse for the cameras other hosts hold (``at`` as for :meth:`fire`)."""
        wanted = list(dict.fromkeys(camera_ids))
        with self._lock:
            at = time.monotonic() if at is None else at  # read first: fire places the pulse exactly there
            fired_at, exposed = self.fire(wanted, at)
            angle, subject, room = self._motion.angle_at(at), self._subject_present, self._room_light
        publisher = self.publisher
        if publisher is not None:
            publisher.pulse(wanted, fired_at, angle, subject, room)
        return fired_at, exposed

    def fire(self, camera_ids: Iterable[str], at: float | None = None,
             angle_deg: float | None = None) -> tuple[float, list[str]]:
        """Trigger pulse: every armed camera among ``camera_ids`` exposes now, under the light on the wire now.

        Returns ``(time.time() of the pulse, ids that exposed)``. Unarmed cameras ignore the pulse, as a real
        body does. An armed camera exposes once per pulse it was armed for, then is disarmed. An exposure
        fails (its record says why) on a full card, a full buffer, or a pulse sooner than the body's burst
        rate allows after its last one. ``at`` is the pulse's time.monotonic() when a simulated box timed it
        (its own clock is exact; the thread that calls this may wake late), default now. ``angle_deg``: the
        table angle the exposures show, when another host's studio saw the pulse (default: this table's).
        """
        wanted = list(dict.fromkeys(camera_ids))
        with self._lock:
            labels = {camera_id: self._labels[camera_id].popleft() for camera_id in wanted
                      if camera_id in self._armed and self._labels.get(camera_id)}
            self._stage_for(labels.values())
            if self._operator is not None:
                self._operator.before_fire(self, [camera_id for camera_id in wanted if camera_id in self._armed])
            fired_at, fired_monotonic = time.time(), time.monotonic()
            if at is not None and at < fired_monotonic:
                fired_at, fired_monotonic = fired_at - (fired_monotonic - at), at
            frames = MappingProxyType(self.held_frames())  # one snapshot for the whole set: they fire together
            angle = self._motion.angle_at(fired_monotonic) if angle_deg is None else angle_deg
            exposed = []
            for camera_id in wanted:
                armed = self._armed.get(camera_id)
                if armed is None:
                    continue
                armed.left -= 1
                if armed.left <= 0:
                    del self._armed[camera_id]
                timing = armed.timing
                start = fired_monotonic + self.wall_seconds(timing.latency_s)
                queue = self._pending.setdefault(camera_id, deque())
                error = self._exposure_error(camera_id, armed, start, len(queue))
                if error is None:
                    self._last_exposure[camera_id] = start
                record = ExposureRecord(next(self._seq), camera_id, fired_at, fired_monotonic, frames, angle,
                                        armed.settings, error, self._props, self._subject_present,
                                        self._room_light, start, start + self.wall_seconds(timing.shutter_s),
                                        labels.get(camera_id))
                queue.append(record)
                self._log.append(record)
                exposed.append(camera_id)
            self._fired.notify_all()
        return fired_at, exposed

    def _exposure_error(self, camera_id: str, armed: _Armed, start: float, queued: int) -> str | None:
        state = self.camera_state(camera_id)
        if self.take_fault(camera_id, "card_full") or state.free_bytes < armed.bytes_needed:
            return f"card full ({state.free_bytes} bytes free, about {armed.bytes_needed} needed)"
        if queued >= armed.timing.buffer:
            return f"buffer full ({queued} exposures not yet delivered)"
        last = self._last_exposure.get(camera_id)
        interval = self.wall_seconds(armed.timing.min_interval_s)
        if last is not None and start - last < interval * 0.999:
            return (f"missed the trigger: {1e3 * (start - last):.1f} ms after the last exposure, the body needs "
                    f"{1e3 * interval:.1f} ms")
        return None

    def pending_exposure(self, camera_id: str) -> ExposureRecord | None:
        """The newest exposure ``camera_id`` made and has not delivered yet, if any."""
        with self._lock:
            queue = self._pending.get(camera_id)
            return queue[-1] if queue else None

    def wait_for_exposure(self, camera_id: str, timeout_s: float) -> ExposureRecord | None:
        """The oldest pending exposure of ``camera_id``; while it is armed, wait up to ``timeout_s`` for the
        trigger.

        This waits for an event (another thread firing), not for modelled time, so it is not scaled.
        """
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._lock:
            while not self._pending.get(camera_id) and camera_id in self._armed:
                left = deadline - time.monotonic()
                if left <= 0.0:
                    break
                self._fired.wait(left)
            queue = self._pending.get(camera_id)
            return queue[0] if queue else None

    def complete_exposure(self, record: ExposureRecord) -> None:
        """The camera delivered (or reported the failure of) ``record``: it is no longer pending."""
        with self._lock:
            queue = self._pending.get(record.camera_id)
            if queue is None:
                return
            for pending in list(queue):
                if pending.seq == record.seq:
                    queue.remove(pending)
            if not queue:
                del self._pending[record.camera_id]

    def exposure_log(self) -> list[ExposureRecord]:
        """Every exposure made so far (the newest 10 000), oldest first."""
        with self._lock:
            return list(self._log)


_studios: dict[str, VirtualStudio] = {}
_studios_lock = threading.Lock()


def get_studio(name: str, rig: RigConfig, base_dir: Path, role: StudioRole | None = None) -> VirtualStudio:
    """The process-wide studio called ``name``, created from ``rig`` on first use.

    A later call with a different rig (an edited rig file) makes the studio describe that rig from then on;
    what the hardware holds (light frames, table angle, cards) stays, and the stage changes when the rig's
    ``simulation.stage`` or ``simulation.operator`` does.

    ``role`` (the rules: :mod:`capturerig_sim.studio_bus`): ``publisher`` makes the studio tell the studio bus
    what its trigger, table and stage do; ``mirror`` makes a new studio follow the bus instead of serving
    wire simulators, and keeps an existing studio as it is (same process, same physical studio); None or
    ``local`` keeps an existing studio's role and makes a new studio as a single-host rig has it.
    """
    with _studios_lock:
        studio = _studios.get(name)
        if studio is None:
            # Imported here: these modules import this one.
            from capturerig_sim.calib_operator import configure_stage
            from capturerig_sim.studio_bus import make_mirror, make_publisher
            from capturerig_sim.wire import serve_wire_simulators

            studio = VirtualStudio(name, rig, base_dir)
            configure_stage(studio)  # rig.simulation.stage / CAPTURERIG_SIM_STAGE: the mannequin or a board
            if role == "mirror":
                make_mirror(studio)
            else:
                serve_wire_simulators(studio)  # rig.simulation.serve: wire-level simulators feeding this studio
                if role == "publisher":
                    make_publisher(studio)
            _studios[name] = studio
        else:
            if studio.rig != rig or studio.base_dir != base_dir:
                from capturerig_sim.calib_operator import configure_stage, stage_settings

                restage = stage_settings(studio.rig) != stage_settings(rig)
                with studio.lock:
                    studio.rig, studio.base_dir = rig, base_dir
                if restage:  # a studio day: the calibration rig, then the chart, then the subject
                    configure_stage(studio)
            if role == "publisher" and studio.publisher is None:
                from capturerig_sim.studio_bus import make_publisher

                make_publisher(studio)  # the controller's devices, made after its in-process agents' cameras
        return studio


def reset_studios() -> None:
    """Forget every studio (tests): the next :func:`get_studio` starts a fresh world; their buses close."""
    with _studios_lock:
        studios = list(_studios.values())
        _studios.clear()
    for studio in studios:
        for link in (studio.publisher, studio.mirror):
            if link is not None:
                link.close()
        studio.publisher = studio.mirror = None
