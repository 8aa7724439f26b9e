"""The studio bus: the physical studio that every capture host of a multihost rig shares, over UDP multicast.

In a multihost rig the controller process drives the trigger box, the turntable and the stage, while each
``capturerig agent`` process holds its host's cameras; with ``driver: sim`` devices every process has its own
:class:`~capturerig_sim.studio.VirtualStudio`. The bus makes them one studio: the controller's studio (the
*publisher*) multicasts what its trigger cables, table and operator do; an agent's studio (a *mirror*) follows.

What crosses the bus (format: :mod:`capturerig_sim._bus_messages`):

- ``pulse``: the cameras wired to the fired trigger ports, the pulse's time.time(), and the table angle,
  subject and house lights at that instant. A mirror fires its armed cameras among them at the pulse's time,
  showing that angle and stage, so its exposures are the publisher's instant even if a motion message was lost.
- ``motion``: the table turns from/to an angle, starting at a time.time(), for a duration (an angle set is a
  motion of duration 0). ``scene``: subject present, house lights. ``state``: both, every second.
- Not on the bus: light levels (each process's studio receives the same sACN multicast traffic on the wire,
  :func:`capturerig_sim.wire.serve_shared_lights`, so a wire bug still shows in an agent's pixels) and props
  (each studio stages them from the rig: chart stands, the calibration operator's board).

Delivery: every message is sent twice (the copy 5 ms later) and numbered per publisher boot; a mirror acts on
a number once. What a lost message (both copies) costs: a pulse - that host's armed cameras do not expose
and report "armed but not triggered" at their timeout, so the take fails, naming the cameras, and is shot
again; a motion or scene message - the mirror's own table angle or stage is stale until the next ``state``
message (at most 1 s), which its exposures never see (a pulse brings the publisher's angle and stage).

Roles (chosen by the sim drivers, core code knows nothing of this): on a rig with ``hosts:``, a device made
on the controller (``DriverContext.host`` None) asks :func:`~capturerig_sim.studio.get_studio` for a
``publisher``, an agent's camera (``host`` set) for a ``mirror``; a rig without hosts has ``local`` studios,
exactly as before. A studio becomes a mirror only when that request is the first for its name in the process:
where the controller and its agents share one process (tests serve agents on threads) a mirror request gets
the local studio itself, and a publisher request turns a mirror made first into the publisher (it stops
following the bus and starts its wire simulators), since one process is one physical studio.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import socket
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from capturerig_sim._bus_messages import (
    BusMessage,
    BusMessageError,
    BusSettings,
    MotionMessage,
    PulseMessage,
    SceneMessage,
    StateMessage,
    bus_settings,
    decode,
    encode,
)
from capturerig_sim.studio import VirtualStudio

__all__ = ["REPEAT_AFTER_S", "STATE_EVERY_S", "BusMirror", "BusPublisher", "BusStats", "make_mirror",
           "make_publisher"]

log = logging.getLogger(__name__)
REPEAT_AFTER_S = 0.005  # the second copy: late enough to miss what dropped the first (a full receive buffer)
STATE_EVERY_S = 1.0
_SEEN_PER_SOURCE = 4096  # numbers remembered per publisher boot, for de-duplication
_SOURCES = 8  # publisher boots remembered (a controller restart is a new boot)
_MAX_DATAGRAM = 65_507


class BusPublisher:
    """Multicasts what a studio's trigger, table and stage do (a :class:`~capturerig_sim.studio.StudioPublisher`).

    Sending never raises into the driver that fired or turned: a send error is logged (once per kind of
    error) and counted in :attr:`send_errors`, and the other hosts' cameras then miss that pulse.
    """

    def __init__(self, studio: VirtualStudio, settings: BusSettings) -> None:
        self.settings = settings
        self.source = uuid.uuid4().hex[:12]
        self.send_errors = 0
        self._studio = studio
        self._numbers = itertools.count()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(settings.interface))
            self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
            self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)  # mirrors on this machine
        except OSError as exc:
            self._sock.close()
            raise OSError(exc.errno, f"studio '{studio.name}': cannot send the studio bus via {settings.interface}: "
                                     f"{exc.strerror or exc} (rig simulation.studio_bus.interface: give an "
                                     "address of this machine)") from exc
        self._lock = threading.Condition()
        self._repeats: list[tuple[float, int, bytes]] = []  # (when, number, datagram), a heap
        self._logged: set[str] = set()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"studio-bus-{studio.name}", daemon=True)
        self._thread.start()

    def pulse(self, camera_ids: Sequence[str], at: float, angle_deg: float, subject: bool, room: float) -> None:
        """Publish a trigger pulse (see :class:`~capturerig_sim.studio.StudioPublisher`)."""
        self._send(lambda n: PulseMessage(key=self.settings.key, src=self.source, n=n, cameras=tuple(camera_ids),
                                          at=at, deg=angle_deg, subject=subject, room=room))

    def motion(self, start_deg: float, target_deg: float, start: float, duration_s: float) -> None:
        """Publish a table motion."""
        self._send(lambda n: MotionMessage(key=self.settings.key, src=self.source, n=n, from_deg=start_deg,
                                           to_deg=target_deg, start=start, duration=max(0.0, duration_s)))

    def scene(self, subject: bool, room: float) -> None:
        """Publish the stage."""
        self._send(lambda n: SceneMessage(key=self.settings.key, src=self.source, n=n, subject=subject, room=room))

    def _state(self, n: int) -> StateMessage:
        start_deg, target_deg, start, end = self._studio.turntable_motion()
        wall_now, now = time.time(), time.monotonic()
        return StateMessage(key=self.settings.key, src=self.source, n=n, from_deg=start_deg, to_deg=target_deg,
                            start=wall_now - (now - start), duration=end - start,
                            subject=self._studio.subject_present, room=self._studio.room_light)

    def _send(self, build: Callable[[int], BusMessage]) -> None:
        with self._lock:  # numbered in send order: a mirror applies a newer motion over an older one only
            if self._closed:
                return
            n = next(self._numbers)
            datagram = encode(build(n))
            self._sendto(datagram)
            heapq.heappush(self._repeats, (time.monotonic() + REPEAT_AFTER_S, n, datagram))
            self._lock.notify()

    def _sendto(self, datagram: bytes) -> None:
        if len(datagram) > _MAX_DATAGRAM:
            self._failed("too-long", f"a {len(datagram)}-byte message does not fit one datagram (too many cameras)")
            return
        try:
            self._sock.sendto(datagram, (self.settings.group, self.settings.port))
        except OSError as exc:
            self._failed(f"os-{exc.errno}", f"cannot send to {self.settings.group}:{self.settings.port} via "
                                            f"{self.settings.interface}: {exc.strerror or exc}")

    def _failed(self, kind: str, text: str) -> None:
        with self._lock:
            self.send_errors += 1
            first = kind not in self._logged
            self._logged.add(kind)
        if first:  # a bus that cannot send fails every message: say it once
            log.error("studio '%s' bus: %s; the other hosts' sim cameras miss what it carries", self._studio.name,
                      text)

    def _run(self) -> None:
        next_state = time.monotonic()
        while True:
            with self._lock:
                if self._closed:
                    return
                now = time.monotonic()
                due = []
                while self._repeats and self._repeats[0][0] <= now:
                    due.append(heapq.heappop(self._repeats)[2])
                # The number is taken before the state is read: a motion published meanwhile gets a later one.
                state_n = next(self._numbers) if now >= next_state else None
                if not due and state_n is None:
                    wake = min(next_state, self._repeats[0][0]) if self._repeats else next_state
                    self._lock.wait(max(0.0, wake - now))
                    continue
            # Outside the lock: reading the studio takes its lock, and a driver may publish while holding that.
            for datagram in due:
                self._sendto(datagram)
            if state_n is not None:
                self._sendto(encode(self._state(state_n)))
                next_state = now + STATE_EVERY_S

    def close(self) -> None:
        """Stop publishing (repeats not yet sent are dropped); never raises."""
        with self._lock:
            self._closed = True
            self._lock.notify()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self._sock.close()


@dataclass
class BusStats:
    """What a mirror received: messages acted on, copies dropped, and what it could not use."""

    received: int = 0  # messages acted on (each number once)
    duplicates: int = 0  # copies of a number already acted on
    stale: int = 0  # motion / scene / state messages older than one already applied
    foreign: int = 0  # messages of another studio key
    malformed: int = 0
    missing: int = 0  # numbers skipped and not (yet) received: both copies lost
    pulses: int = 0


class _Source:
    """One publisher boot as a mirror saw it: which numbers arrived, the newest motion and stage applied."""

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.order: deque[int] = deque()
        self.highest = -1
        self.missing: set[int] = set()
        self.motion_n = -1
        self.scene_n = -1

    def first_time(self, n: int) -> bool:
        if n in self.seen:
            return False
        self.seen.add(n)
        self.order.append(n)
        if len(self.order) > _SEEN_PER_SOURCE:
            self.seen.discard(self.order.popleft())
        self.missing.discard(n)
        if self.highest < 0:  # what the publisher sent before this mirror joined is not lost
            self.highest = n - 1
        if n > self.highest:
            self.missing.update(range(max(self.highest + 1, n - _SEEN_PER_SOURCE), n))
            self.highest = n
        self.missing = {m for m in self.missing if m > self.highest - _SEEN_PER_SOURCE}
        return True


class BusMirror:
    """Follows a publisher's bus into ``studio`` and receives the light outputs' multicast traffic on the wire.

    Raises
    ------
    OSError
        When the bus socket cannot be bound or joined (the message names the group, port and interface).
    """

    def __init__(self, studio: VirtualStudio, settings: BusSettings) -> None:
        from capturerig_sim.wire import serve_shared_lights  # wire imports the studio, as this module does

        self.settings = settings
        self.stats = BusStats()
        self._studio = studio
        self._sources: OrderedDict[str, _Source] = OrderedDict()
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            # Every agent process on this machine binds the same group and port, and each gets every datagram.
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            self._sock.bind((settings.group, settings.port))
            membership = socket.inet_aton(settings.group) + socket.inet_aton(settings.interface)
            self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
            self._sock.settimeout(0.1)
        except OSError as exc:
            self._sock.close()
            raise OSError(exc.errno, f"studio '{studio.name}': cannot join the studio bus "
                                     f"{settings.group}:{settings.port} on {settings.interface}: "
                                     f"{exc.strerror or exc} (rig simulation.studio_bus)") from exc
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"studio-bus-mirror-{studio.name}", daemon=True)
        self._thread.start()
        try:
            self.lights, unheard = serve_shared_lights(studio)
        except BaseException:
            self.close()
            raise
        if unheard:
            log.warning("studio '%s': light output(s) %s are not multicast sACN in simulation.serve, so an agent "
                        "process's sim cameras do not see them (unless the controller runs in the same process)",
                        studio.name, ", ".join(unheard))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(_MAX_DATAGRAM)
            except TimeoutError:
                continue
            except OSError:
                break  # closed
            try:
                message = decode(data)
            except BusMessageError as exc:
                with self._lock:
                    self.stats.malformed += 1
                log.warning("studio '%s' bus: dropped a malformed message (%s)", self._studio.name, exc)
                continue
            self.apply(message)

    def apply(self, message: BusMessage) -> None:
        """Act on ``message`` once (the receive thread's call; tests may hand a message in directly)."""
        with self._lock:
            if message.key != self.settings.key:
                self.stats.foreign += 1
                return
            source = self._sources.get(message.src)
            if source is None:
                source = self._sources[message.src] = _Source()
                while len(self._sources) > _SOURCES:
                    self._sources.popitem(last=False)
            if not source.first_time(message.n):
                self.stats.duplicates += 1
                return
            self.stats.received += 1
            self.stats.missing = sum(len(s.missing) for s in self._sources.values())
            # A late copy must not undo a newer message: motion and stage apply only when newer than the last.
            motion = isinstance(message, MotionMessage | StateMessage) and message.n > source.motion_n
            scene = not isinstance(message, MotionMessage) and message.n > source.scene_n
            source.motion_n = message.n if motion else source.motion_n
            source.scene_n = message.n if scene else source.scene_n
            if not isinstance(message, PulseMessage):
                self.stats.stale += not (motion or scene)
            else:
                self.stats.pulses += 1
        studio = self._studio
        if scene and not isinstance(message, MotionMessage):
            studio.subject_present, studio.room_light = message.subject, message.room
        if motion and isinstance(message, MotionMessage | StateMessage):
            wall_now, now = time.time(), time.monotonic()
            start = now - (wall_now - message.start)
            studio.follow_turntable_motion(message.from_deg, message.to_deg, start, start + message.duration)
        if isinstance(message, PulseMessage):
            at = time.monotonic() - (time.time() - message.at)  # this host's clock is synchronised with the pulse's
            studio.fire(message.cameras, at=at, angle_deg=message.deg)

    def close(self) -> None:
        """Stop following the bus and receiving the lights; never raises."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self._sock.close()
        for light in getattr(self, "lights", []):
            light.close()


def make_publisher(studio: VirtualStudio) -> BusPublisher:
    """Make ``studio`` the publisher of its bus (a mirror made earlier in this process stops following and its
    wire simulators start: this process is the controller). Returns the publisher.

    Raises
    ------
    ValueError
        For a malformed ``simulation.studio_bus`` (or ``serve``).
    """
    from capturerig_sim.wire import serve_wire_simulators

    settings = bus_settings(studio.rig, studio.name)
    if studio.mirror is not None:
        studio.mirror.close()
        studio.mirror = None
        serve_wire_simulators(studio)
    publisher = BusPublisher(studio, settings)
    studio.publisher = publisher
    return publisher


def make_mirror(studio: VirtualStudio) -> BusMirror:
    """Make a new ``studio`` follow its bus (this process is an agent): the publisher's pulses fire its armed
    cameras, its table follows, and its multicast light outputs are received on the wire. No other wire
    simulator starts here: the controller serves the trigger box, turntable and unicast lights. The calibration
    operator stays (each host's studio moves its own board before its cameras' exposures).

    Raises
    ------
    ValueError
        For a malformed ``simulation.studio_bus`` (or ``serve``).
    OSError
        When the bus or a light receiver cannot bind.
    """
    mirror = BusMirror(studio, bus_settings(studio.rig, studio.name))
    studio.mirror = mirror
    return mirror
