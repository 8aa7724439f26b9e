"""A frame clock whose sender runs in its own process, so the controller's threads cannot delay a tick.

In one interpreter the sender thread waits for the GIL whenever the session renders or hashes (15-90 ms
ticks were measured under a capture session). Here the clock loop, the socket and the packet building
(sequence counters, ArtSync, sACN termination) live in a small child interpreter (``_sender_main.py``) that
imports only the standard library and the packet builders, runs under SCHED_FIFO when permitted and never
collects garbage in its loop. Frames cross in shared memory (a memfd: one seqlocked 512-byte slot per
universe, see :mod:`capturerig.devices._sender_child`), so :meth:`ProcessFrameClock.set_frame` costs a few
microseconds and the child never sends a torn frame. The child is a plain subprocess rather than a
multiprocessing 'spawn' child because spawn re-imports the controller's ``__main__`` (and with it capturerig's
heavy modules) in the child. It stops when its control pipe closes or its parent pid changes, so a killed
controller leaves no sender behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import mmap
import os
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from capturerig.config import MAX_DMX_RATE_HZ
from capturerig.devices._frame_clock import SendRecord
from capturerig.devices._sender_child import FRAME_OFFSET, RECORD, SLOT_SIZE, Kind
from capturerig.devices.protocols import DeviceError, DeviceTimeout

__all__ = ["DEFAULT_REALTIME_PRIORITY", "ProcessFrameClock"]

log = logging.getLogger(__name__)
DEFAULT_REALTIME_PRIORITY = 10  # SCHED_FIFO priority of the sender process unless params say otherwise
_HISTORY = 4096
_MAIN = Path(__file__).with_name("_sender_main.py")
_F_SETPIPE_SZ = 1031
_TAIL = struct.Struct("<dI")  # applied_at, crc after the sequence


class ProcessFrameClock:
    """Sends each universe's current frame on a fixed schedule from a child process.

    The same interface as :class:`capturerig.devices.FrameClock` (``set_frame``, ``wait_sent``, ``start``,
    ``stop(flush)``, ``history``, ``error``); the transmit logic is named by ``spec`` instead of a callable.

    Parameters
    ----------
    device_id : str
        For errors and logs.
    universes : sequence of int
        Universes this output carries.
    spec : dict
        The transport, JSON-serialisable: ``kind`` ("artnet" or "sacn"), ``bind_host`` and the transport's
        fields (see ``_sender_child._artnet`` / ``_sacn``); optional ``start_sequence`` maps str(universe) to
        the first sequence number. Kept as :attr:`spec` and read by :meth:`start`.
    rate_hz : float
        Sends per second per universe, at most 44.
    repeat_after_s : float or None
        Resend an unchanged frame after this long (keep-alive); None or 0 resends every tick.
    immediate : bool
        In keep-alive mode, send a changed frame at once when its universe was last sent a period or more
        ago (lower apply-to-wire latency; never faster than ``rate_hz`` per universe). Off for ArtSync outputs,
        whose universes must change together on a tick.
    realtime_priority : int or None
        SCHED_FIFO priority (1..99) of the child; None keeps normal scheduling. Without permission the child
        warns and runs at normal priority.
    """

    def __init__(self, device_id: str, universes: Sequence[int], spec: dict[str, Any],
                 rate_hz: float = MAX_DMX_RATE_HZ, repeat_after_s: float | None = None, immediate: bool = True,
                 frame_size: int = 512, realtime_priority: int | None = DEFAULT_REALTIME_PRIORITY) -> None:
        if not 0 < rate_hz <= MAX_DMX_RATE_HZ:
            raise ValueError(f"{device_id}: rate {rate_hz} Hz is outside 0..{MAX_DMX_RATE_HZ:g} Hz")
        if realtime_priority is not None and not 1 <= realtime_priority <= 99:
            raise ValueError(f"{device_id}: real-time priority {realtime_priority} is outside 1..99")
        if not 1 <= frame_size <= SLOT_SIZE - FRAME_OFFSET:
            raise ValueError(f"{device_id}: frame size {frame_size} is outside 1..{SLOT_SIZE - FRAME_OFFSET}")
        self.device_id = device_id
        self.period_s = 1.0 / rate_hz
        self.repeat_after_s = repeat_after_s
        self.realtime_priority = realtime_priority
        self._frame_size = frame_size
        self._index = {u: i for i, u in enumerate(universes)}
        self._generation = [0] * len(self._index)
        self.spec = dict(spec, universes=list(self._index), frame_size=frame_size, period_s=self.period_s,
                          repeat_after_s=repeat_after_s, immediate=immediate, realtime_priority=realtime_priority)
        self._wake = immediate and bool(repeat_after_s)
        self._lock = threading.Lock()  # one writer at a time per slot (the seqlock has one writer)
        self._sent = threading.Condition()
        self._memory: mmap.mmap | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._dead: str | None = None
        self._ready = threading.Event()
        self._failure: str | None = None
        self._pending = [bytes(frame_size)] * len(self._index)  # frames while no process runs
        self.error: Exception | None = None
        self.history: deque[SendRecord] = deque(maxlen=_HISTORY)

    # -- caller side -------------------------------------------------------------------------------------
    def set_frame(self, universe: int, frame: bytes) -> None:
        """Replace a universe's frame; it goes out at the next tick (or at once, see ``immediate``).

        Raises ValueError on a bad universe or size; before :meth:`start` the frame is kept for the first tick.
        """
        index = self._index.get(universe)
        if index is None:
            raise ValueError(f"{self.device_id}: does not carry universe {universe} "
                             f"(carries {', '.join(map(str, self._index))})")
        if len(frame) != self._frame_size:
            raise ValueError(f"{self.device_id}: a frame has {self._frame_size} levels, got {len(frame)}")
        frame = bytes(frame)
        crc = zlib.crc32(frame)
        with self._lock:
            memory = self._memory
            self._generation[index] += 1
            if memory is None:
                self._pending[index] = frame
                return
            _write_slot(memory, index, self._generation[index], frame, crc, time.perf_counter())
        process = self._process
        if self._wake and process is not None and process.stdin is not None:
            with contextlib.suppress(BlockingIOError, BrokenPipeError, ValueError, OSError):
                os.write(process.stdin.fileno(), b"w")

    def wait_sent(self, timeout_s: float) -> None:
        """Block until every universe's current frame has been transmitted at least once.

        Raises
        ------
        DeviceError
            When the sender is not running or its process died (the message says how).
        DeviceTimeout
            When the frames are not on the wire within ``timeout_s``; names the last send error.
        """
        deadline = time.monotonic() + timeout_s
        with self._sent:
            while True:
                memory = self._memory
                if memory is None or self._dead is not None:
                    reason = self._dead or "the sender is not running"
                    raise DeviceError(self.device_id, reason, "open the light output first" if self._dead is None
                                      else "check the error above, then close and reopen the light output")
                with self._lock:
                    wanted = list(self._generation)
                if all(_sent_generation(memory, i) >= g for i, g in enumerate(wanted)):
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    reason = f": last error {self.error}" if self.error else ""
                    raise DeviceTimeout(self.device_id, f"frame not on the wire after {timeout_s:g} s{reason}",
                                        "check the cable, port or network")
                self._sent.wait(min(remaining, 0.005))  # the reader notifies; the poll covers a dropped report

    def start(self, timeout_s: float = 5.0) -> None:
        """Start the sender process; raises DeviceError when it cannot start (e.g. the socket cannot be made)."""
        if self._process is not None:
            return
        fd = os.memfd_create(f"capturerig-dmx-{self.device_id}", os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, SLOT_SIZE * len(self._index))
            memory = mmap.mmap(fd, SLOT_SIZE * len(self._index))
            for index, generation in enumerate(self._generation):
                frame = self._pending[index]
                _write_slot(memory, index, generation, frame, zlib.crc32(frame), time.perf_counter())
                _set_sent(memory, index, -1)
            process = subprocess.Popen(
                [sys.executable, "-I", "-S", str(_MAIN), json.dumps(self.spec), str(fd)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, pass_fds=(fd,), close_fds=True)
        finally:
            os.close(fd)
        assert process.stdout is not None
        assert process.stdin is not None
        with contextlib.suppress(OSError):  # room for ~30 s of reports if the reader thread is starved
            fcntl.fcntl(process.stdout.fileno(), _F_SETPIPE_SZ, 1 << 20)
        os.set_blocking(process.stdin.fileno(), False)
        self._dead = None
        self._ready = threading.Event()
        self._failure = None
        with self._lock:
            self._memory, self._process = memory, process
        self._reader = threading.Thread(target=self._read_reports, args=(process,), name=f"dmx-{self.device_id}",
                                        daemon=True)
        self._reader.start()
        if not self._ready.wait(timeout_s) or self._failure is not None:
            self._terminate()
            reason = self._failure or f"the sender process did not start within {timeout_s:g} s"
            raise DeviceError(self.device_id, reason, "check the output's params (host, bind_host, port)")

    def stop(self, flush: bool = True) -> None:
        """Stop the sender; with ``flush`` the current frames go out once more first (e.g. a blackout), and
        sACN sends its Stream_Terminated packets."""
        process = self._process
        if process is None:
            return
        assert process.stdin is not None
        try:
            os.set_blocking(process.stdin.fileno(), True)
            os.write(process.stdin.fileno(), b"f" if flush else b"q")
        except OSError as exc:
            log.warning("%s: cannot tell the sender process to stop: %s", self.device_id, exc)
        try:
            process.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            log.warning("%s: the sender process did not stop within 2 s; killing it", self.device_id)
        self._terminate()

    @property
    def pid(self) -> int | None:
        """The sender process's id while it runs (for diagnostics and tests), else None."""
        process = self._process
        return process.pid if process is not None else None

    # -- internals ---------------------------------------------------------------------------------------
    def _terminate(self) -> None:
        process, reader = self._process, self._reader
        if process is None:
            return
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5.0)
        if reader is not None:
            reader.join(timeout=2.0)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        with self._lock:
            memory = self._memory
            if memory is not None:  # keep the frames so a reopen starts from them
                for index in range(len(self._index)):
                    base = index * SLOT_SIZE + FRAME_OFFSET
                    self._pending[index] = bytes(memory[base:base + self._frame_size])
            self._memory, self._process, self._reader = None, None, None
        if memory is not None:
            memory.close()
        with self._sent:
            self._sent.notify_all()

    def _read_reports(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        fd = process.stdout.fileno()
        buffer = b""
        stopping = False
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            if not data:
                break
            buffer += data
            while len(buffer) >= RECORD.size:
                kind, universe, number, at, applied = RECORD.unpack_from(buffer)
                text_size = number if kind in (Kind.ERROR, Kind.WARNING, Kind.FAILED) else 0
                if len(buffer) < RECORD.size + text_size:
                    break
                text = buffer[RECORD.size:RECORD.size + text_size].decode("utf-8", "replace")
                buffer = buffer[RECORD.size + text_size:]
                stopping = self._report(kind, universe, number, at, applied, text) or stopping
        code = process.wait()
        if not stopping and self._failure is None:
            self._dead = f"the sender process exited unexpectedly (exit code {code})"
            if self.error is not None:
                self._dead += f"; last error {self.error}"
            log.error("%s: %s", self.device_id, self._dead)
        self._ready.set()
        with self._sent:
            self._sent.notify_all()

    def _report(self, kind: int, universe: int, generation: int, at: float, applied: float, text: str) -> bool:
        if kind == Kind.SENT:
            self.history.append(SendRecord(universe, generation, at, applied))
            self.error = None
            with self._sent:
                self._sent.notify_all()
        elif kind == Kind.ERROR:
            self.error = OSError(text)
            log.warning("%s: %s", self.device_id, text)
        elif kind == Kind.WARNING:
            log.warning("%s: %s", self.device_id, text)
        elif kind == Kind.FAILED:
            self._failure = f"the sender could not start: {text}"
            self._ready.set()
        elif kind == Kind.READY:
            self._ready.set()
        return kind == Kind.BYE


def _write_slot(memory: mmap.mmap, index: int, generation: int, frame: bytes, crc: int, applied_at: float) -> None:
    # Seqlock: odd while writing, even (2 x generation) once consistent; the child retries an odd or changed
    # sequence and checks the crc, so it never sends a half-written frame.
    base = index * SLOT_SIZE
    memory[base:base + 8] = (generation * 2 + 1).to_bytes(8, "little")
    memory[base + 8:base + 20] = _TAIL.pack(applied_at, crc)
    memory[base + FRAME_OFFSET:base + FRAME_OFFSET + len(frame)] = frame
    memory[base:base + 8] = (generation * 2).to_bytes(8, "little")


def _sent_generation(memory: mmap.mmap, index: int) -> int:
    return int.from_bytes(memory[index * SLOT_SIZE + 24:index * SLOT_SIZE + 32], "little", signed=True)


def _set_sent(memory: mmap.mmap, index: int, generation: int) -> None:
    memory[index * SLOT_SIZE + 24:index * SLOT_SIZE + 32] = generation.to_bytes(8, "little", signed=True)
