"""Serial device simulators on a pseudo-terminal: the driver opens the slave, we speak on the master.

:class:`PtyTransport` is the transport every serial simulator shares (DMX widgets, serial lights, the trigger
box, the GRBL turntable): the pty in raw mode, an optional symlink where the rig's ``params.port`` points, one
serving thread that hands every byte the driver writes to ``_on_bytes`` as it arrives (any chunking, nothing
line-buffered, so single-byte real-time commands act at once), an optional ``_on_tick`` for devices that
model time, and ``reply`` to answer. The device's own logic lives apart from it, in a class without I/O.

:class:`PtySimulator` adds what the light outputs share: received DMX frames are recorded with their receive
time and, when a studio is attached, pushed into it with ``studio.set_frame`` so the sim cameras render what
crossed the wire.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import threading
import time
import tty
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol, Self

from capturerig.config import LightOutputConfig

__all__ = ["FrameSink", "PtySimulator", "PtyTransport", "ReceivedFrame", "port_param"]

_UNIVERSE_SIZE = 512
_KEPT_FRAMES = 100_000


def port_param(output: LightOutputConfig) -> Path:
    """The serial port path a served output names (where the simulator links its pty); ValueError if none."""
    port = output.params.get("port")
    if not isinstance(port, str) or not port or "://" in port:
        raise ValueError(f"light output '{output.id}': a served serial output needs params.port, a file path "
                         f"such as /tmp/capturerig-sim/{output.id} (got {port!r})")
    return Path(port)


class FrameSink(Protocol):
    """Where received frames go (a VirtualStudio)."""

    def set_frame(self, output_id: str, universe: int, levels: bytes, on_wire_after_s: float = 0.0) -> None: ...


@dataclass(frozen=True)
class ReceivedFrame:
    """One frame as it arrived: ``slots`` as sent (not padded), ``received_at`` in time.perf_counter()."""

    universe: int
    slots: bytes
    received_at: float

    @property
    def levels(self) -> bytes:
        """The 512 levels the fixtures see (missing slots are 0)."""
        return (self.slots + bytes(_UNIVERSE_SIZE))[:_UNIVERSE_SIZE]


class PtyTransport(ABC):
    """Base of the pty simulators: the pty, its link, the serving thread and ``reply``.

    Subclasses get every byte the driver writes in ``_on_bytes`` (in the serving thread) and, when
    :attr:`tick_s` is set, a call to ``_on_tick`` at least that often (device time: motion, watchdogs).

    Parameters
    ----------
    name
        The device's id (names the serving thread).
    link
        A path to create as a symlink to the pty slave (the port named in the rig), replaced if it is a symlink.
    """

    tick_s: ClassVar[float | None] = None  # seconds between _on_tick calls; None: no ticks
    port_owner: ClassVar[str] = "output"  # what the rig calls the device, for the refused-link message

    def __init__(self, name: str, link: str | Path | None = None) -> None:
        self.name = name
        self.link = None if link is None else Path(link)
        self.errors: list[str] = []  # protocol violations and lost replies, for tests to assert on
        self._master = -1
        self._slave = -1
        self._slave_name = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def path(self) -> str:
        """What the driver opens: the link when one was asked for, else the pty slave."""
        return str(self.link) if self.link is not None else self._slave_name

    def start(self) -> Self:
        """Create the pty (and link) and start serving; returns self (a second call does nothing)."""
        if self._thread is not None:
            return self
        self._master, self._slave = os.openpty()
        # Raw mode at once: until the driver configures the port, the line discipline would echo and
        # translate CR/LF in our replies.
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)  # a driver that stops reading must not hang our replies
        self._slave_name = os.ttyname(self._slave)
        if self.link is not None:
            try:
                self._make_link(self.link)
            except BaseException:
                self._close_fds()
                raise
        atexit.register(self.stop)  # never leave a link to a pty that another process may get next
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"sim-{type(self).__name__}-{self.name}",
                                        daemon=True)
        self._thread.start()
        self._on_start()
        return self

    def _make_link(self, link: Path) -> None:
        if link.exists() and not link.is_symlink():
            # Never replace a real file or device (a rig that names /dev/ttyUSB0 with simulation.serve).
            raise ValueError(f"refusing to replace {link} with a link to the simulator's pty: it is not a "
                             f"symlink; give the {self.port_owner} a port under /tmp/capturerig-sim/ for the "
                             "simulation")
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink():
            link.unlink()
        link.symlink_to(self._slave_name)

    def _close_fds(self) -> None:
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1

    def close(self) -> None:
        """Same as :meth:`stop` (the wire-simulator registry closes what it started)."""
        self.stop()

    def stop(self) -> None:
        """Stop serving, close the pty and remove the link (if it still points at our pty); never raises."""
        atexit.unregister(self.stop)
        thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None:
            thread.join(timeout=2.0)
        with contextlib.suppress(OSError):
            if self.link is not None and self.link.is_symlink() and os.readlink(self.link) == self._slave_name:
                self.link.unlink()
        self._close_fds()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reply(self, data: bytes) -> None:
        """Send ``data`` to the driver (given up, and noted in ``errors``, if it reads nothing for 1 s)."""
        view = memoryview(data)
        deadline = time.monotonic() + 1.0
        while view and not self._stop.is_set() and self._master >= 0:
            try:
                written = os.write(self._master, view)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self.errors.append(f"the driver read nothing for 1 s; {len(view)} reply bytes dropped")
                    return
                time.sleep(0.001)
                continue
            except OSError as exc:  # the pty closed under us (shutdown)
                self.errors.append(f"{len(view)} reply bytes dropped: {exc}")
                return
            view = view[written:]

    def _run(self) -> None:
        interval = self.tick_s
        next_tick = time.monotonic() + interval if interval is not None else 0.0
        while not self._stop.is_set():
            wait = 0.05 if interval is None else max(0.0, next_tick - time.monotonic())
            ready, _, _ = select.select([self._master], [], [], wait)
            if ready:
                try:
                    data = os.read(self._master, 65536)
                except OSError:  # EIO while no one holds the slave (we keep it open, so only at shutdown)
                    time.sleep(0.01)
                    continue
                if data:
                    self._on_bytes(data, time.perf_counter())
            if interval is not None and time.monotonic() >= next_tick:
                self._on_tick()
                next_tick = max(next_tick + interval, time.monotonic())

    def _on_start(self) -> None:
        """Called once the pty is served (a device that prints a banner at power-up sends it here)."""
        return  # most devices say nothing until spoken to

    def _on_tick(self) -> None:
        """Called every :attr:`tick_s` seconds in the serving thread (when set)."""
        return  # only devices that model time (motion, watchdogs) set tick_s

    @abstractmethod
    def _on_bytes(self, data: bytes, received_at: float) -> None:
        """Handle bytes the driver wrote (any chunking); ``received_at`` is time.perf_counter()."""


class PtySimulator(PtyTransport):
    """Base of the pty light-output simulators: a transport that records the DMX frames it receives.

    Parameters
    ----------
    output_id
        The light output id the frames belong to (for the studio).
    sink
        A VirtualStudio (or anything with ``set_frame``) that receives every frame; None records only.
    link
        A path to create as a symlink to the pty slave (the port named in the rig), replaced if it exists.
    """

    def __init__(self, output_id: str, sink: FrameSink | None = None, link: str | Path | None = None) -> None:
        super().__init__(output_id, link)
        self.output_id = output_id
        self.sink = sink
        self.frames: deque[ReceivedFrame] = deque(maxlen=_KEPT_FRAMES)
        self._frames_changed = threading.Condition()

    @abstractmethod
    def _on_bytes(self, data: bytes, received_at: float) -> None:
        """Parse bytes the driver wrote (any chunking) and deliver each complete frame."""

    def _deliver(self, universe: int, slots: bytes, received_at: float) -> None:
        frame = ReceivedFrame(universe, bytes(slots), received_at)
        with self._frames_changed:
            self.frames.append(frame)
            self._frames_changed.notify_all()
        if self.sink is not None:
            self.sink.set_frame(self.output_id, universe, frame.levels)

    def wait_for_frames(self, count: int, timeout_s: float) -> list[ReceivedFrame]:
        """Block until at least ``count`` frames arrived (or ``timeout_s`` passed); returns all received."""
        deadline = time.monotonic() + timeout_s
        with self._frames_changed:
            while len(self.frames) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._frames_changed.wait(left)
            return list(self.frames)

    def wait_for_levels(self, levels: bytes, timeout_s: float) -> ReceivedFrame | None:
        """The first frame (from now on or already received last) whose 512 levels equal ``levels``."""
        deadline = time.monotonic() + timeout_s
        wanted = (bytes(levels) + bytes(_UNIVERSE_SIZE))[:_UNIVERSE_SIZE]
        with self._frames_changed:
            while True:
                if self.frames and self.frames[-1].levels == wanted:
                    return self.frames[-1]
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._frames_changed.wait(left)
