"""The DMX sender process: owns the socket and the clock loop, reads frames from shared memory.

This module runs in a child interpreter started by :class:`capturerig.devices._sender_process.ProcessFrameClock`
through ``_sender_main.py``; it imports only the standard library and the packet builders, so the child
starts in milliseconds and never holds the GIL the controller's threads fight over.

Shared memory (a memfd handed to the child) holds one slot per universe::

    0  seq        u64  seqlock: odd while the controller writes; generation = seq // 2
    8  applied_at f64  perf_counter when the frame was handed over
    16 crc        u32  crc32 of the frame (a second guard against a torn read on weakly ordered CPUs)
    24 sent_gen   i64  written by the child: newest generation on the wire
    32 last_sent  f64  written by the child
    64 frame      512 bytes

Control (controller -> child, a pipe on stdin): ``w`` wake (a frame changed), ``f`` flush then stop,
``q`` stop. End of file (the controller died) stops the child too, as does a changed parent pid.
Reports (child -> controller, a pipe on stdout, non-blocking: dropped rather than stalling the wire) are
records ``<BIqdd`` (kind, universe, generation or text length, time, applied_at) with text after kinds
ERROR, WARNING and FAILED.
"""

from __future__ import annotations

import contextlib
import gc
import json
import mmap
import os
import select
import socket
import struct
import sys
import time
import zlib
from collections.abc import Callable
from typing import Any

__all__ = ["FRAME_OFFSET", "RECORD", "SLOT_SIZE", "Kind", "main", "read_slot"]

SLOT_SIZE = 576
FRAME_OFFSET = 64
HEADER = struct.Struct("<Qd I")  # seq, applied_at, crc
SENT = struct.Struct("<qd")  # sent_gen, last_sent at offset 24
RECORD = struct.Struct("<BIqdd")
SPIN_S = 0.0003  # sleep until this long before a deadline, then spin: select() wakes late by 50-100 us
POLL_S = 0.002  # keep-alive mode: how often shared memory is checked for a changed frame between wakes
_MAX_TEXT = 1000


class Kind:
    """Report record kinds."""

    READY = 1
    SENT = 2
    ERROR = 3
    WARNING = 4
    FAILED = 5  # could not start (text says why)
    BYE = 6


def read_slot(memory: mmap.mmap, index: int, size: int) -> tuple[int, float, bytes] | None:
    """One consistent (generation, applied_at, frame) of slot ``index``, or None while it is being written."""
    base = index * SLOT_SIZE
    seq1, applied_at, crc = HEADER.unpack_from(memory, base)
    if seq1 & 1:
        return None
    frame = memory[base + FRAME_OFFSET:base + FRAME_OFFSET + size]
    seq2 = HEADER.unpack_from(memory, base)[0]
    if seq1 != seq2 or zlib.crc32(frame) != crc:
        return None
    return seq1 // 2, applied_at, frame


class _Reporter:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        os.set_blocking(fd, False)
        self.pending: list[bytes] = []

    def add(self, kind: int, universe: int = 0, number: int = 0, at: float = 0.0, applied: float = 0.0,
            text: str = "") -> None:
        raw = text.encode("utf-8", "replace")[:_MAX_TEXT]
        self.pending.append(RECORD.pack(kind, universe, len(raw) if raw else number, at, applied) + raw)

    def flush(self) -> None:
        chunk = b""
        for record in self.pending:
            if len(chunk) + len(record) > select.PIPE_BUF:
                self._write(chunk)
                chunk = b""
            chunk += record
        if chunk:
            self._write(chunk)
        self.pending.clear()

    def _write(self, chunk: bytes) -> None:
        # At most PIPE_BUF bytes: written whole or not at all; a full pipe drops reports, never stalls the wire.
        with contextlib.suppress(BlockingIOError, BrokenPipeError):
            os.write(self.fd, chunk)


def _artnet(spec: dict[str, Any], sock: socket.socket) -> tuple[Callable[[int, bytes], None],
                                                                 Callable[[], None] | None,
                                                                 Callable[[int, bytes], None] | None]:
    from capturerig.devices._artnet_packets import build_artdmx, build_artsync, next_sequence

    sequence = {int(u): n for u, n in spec.get("start_sequence", {}).items()}  # last sent; next_sequence follows
    destination = (spec["host"], spec["port"])
    physical = spec["physical"]
    if spec["broadcast"]:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)

    def transmit(universe: int, frame: bytes) -> None:
        sequence[universe] = next_sequence(sequence.get(universe, 0))
        sock.sendto(build_artdmx(universe, frame, sequence[universe], physical), destination)

    sync = build_artsync()

    def after_tick() -> None:
        sock.sendto(sync, destination)

    return transmit, after_tick if spec["sync"] else None, None


def _sacn(spec: dict[str, Any], sock: socket.socket) -> tuple[Callable[[int, bytes], None],
                                                              Callable[[], None] | None,
                                                              Callable[[int, bytes], None] | None]:
    from capturerig.devices._sacn_packets import build_e131_data, multicast_address

    sequence = {int(u): n for u, n in spec.get("start_sequence", {}).items()}  # the next one to send
    cid = bytes.fromhex(spec["cid"])
    name, priority, sync_address = spec["source_name"], spec["priority"], spec["sync_address"]
    if spec["multicast"]:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, spec["multicast_ttl"])
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        if spec["multicast_interface"] != "0.0.0.0":
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(spec["multicast_interface"]))

    def send(universe: int, frame: bytes, terminated: bool) -> None:
        number = sequence.get(universe, 0)
        sequence[universe] = (number + 1) & 0xFF
        packet = build_e131_data(cid, name, universe, frame, number, priority=priority, sync_address=sync_address,
                                 stream_terminated=terminated)
        host = multicast_address(universe) if spec["multicast"] else spec["host"]
        sock.sendto(packet, (host, spec["port"]))

    def transmit(universe: int, frame: bytes) -> None:
        send(universe, frame, False)

    def terminate(universe: int, frame: bytes) -> None:
        for _ in range(spec["terminate_packets"]):  # E1.31 6.2.6: three Stream_Terminated packets
            send(universe, frame, True)

    return transmit, None, terminate


_TRANSPORTS = {"artnet": _artnet, "sacn": _sacn}


class _Sender:
    def __init__(self, spec: dict[str, Any], memory: mmap.mmap, control: int, reporter: _Reporter) -> None:
        self.universes: list[int] = spec["universes"]
        self.size: int = spec["frame_size"]
        self.period: float = spec["period_s"]
        repeat = spec["repeat_after_s"]
        self.refresh_every_tick = repeat is None or repeat <= 0
        self.repeat: float = repeat or 0.0
        self.immediate = bool(spec["immediate"]) and not self.refresh_every_tick
        self.memory, self.control, self.reporter = memory, control, reporter
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((spec["bind_host"], 0))
        self.transmit, self.after_tick, self.terminate = _TRANSPORTS[spec["kind"]](spec, self.sock)
        count = len(self.universes)
        self.sent_gen = [-1] * count
        self.last_sent = [float("-inf")] * count
        self.frames = [bytes(self.size)] * count
        self.failing = [""] * count
        self.parent = os.getppid()

    def _latest(self, index: int) -> tuple[int, float, bytes] | None:
        for _ in range(1000):  # the controller holds a slot odd for microseconds; a frame read is never torn
            slot = read_slot(self.memory, index, self.size)
            if slot is not None:
                return slot
        return None

    def send_due(self, now: float, force: bool = False) -> None:
        sent = False
        for index, universe in enumerate(self.universes):
            generation = HEADER.unpack_from(self.memory, index * SLOT_SIZE)[0] // 2
            changed = generation > self.sent_gen[index]
            since = now - self.last_sent[index]
            if not force:
                if self.refresh_every_tick:
                    pass
                elif changed:
                    if since < self.period * 0.999:  # never faster than the rate per universe
                        continue
                elif since < self.repeat:
                    continue
            slot = self._latest(index)
            if slot is None:
                continue
            generation, applied_at, frame = slot
            try:
                self.transmit(universe, frame)
            except (OSError, ValueError) as exc:
                message = f"sending universe {universe} failed: {exc}"
                if message != self.failing[index]:
                    self.reporter.add(Kind.ERROR, universe, text=message)
                    self.failing[index] = message
                self.last_sent[index] = now  # retry a period later, never in a busy loop at real-time priority
                continue
            self.failing[index] = ""
            sent_at = time.perf_counter()
            sent = True
            self.frames[index] = frame
            self.sent_gen[index] = generation
            self.last_sent[index] = sent_at
            SENT.pack_into(self.memory, index * SLOT_SIZE + 24, generation, sent_at)
            self.reporter.add(Kind.SENT, universe, generation, sent_at, applied_at)
        if sent and self.after_tick is not None:
            try:
                self.after_tick()
            except OSError as exc:
                self.reporter.add(Kind.WARNING, text=f"ArtSync failed: {exc}")
        self.reporter.flush()

    def next_immediate(self) -> float:
        """The earliest time a universe is due in keep-alive mode (changed: one period after its last send)."""
        best = float("inf")
        for index in range(len(self.universes)):
            generation = HEADER.unpack_from(self.memory, index * SLOT_SIZE)[0] // 2
            wait = self.period if generation > self.sent_gen[index] else self.repeat
            best = min(best, self.last_sent[index] + wait)
        return best

    def _commands(self, timeout: float) -> str | None:
        """Wait up to ``timeout`` for control bytes; returns 'f', 'q' or 'eof' when told to stop."""
        ready, _, _ = select.select([self.control], [], [], max(0.0, timeout))
        if not ready:
            return None
        try:
            data = os.read(self.control, 4096)
        except BlockingIOError:
            return None
        if not data:
            return "eof"
        for command in ("q", "f"):
            if command.encode() in data:
                return command
        return None

    def run(self) -> str:
        perf = time.perf_counter
        next_tick = perf()
        while True:
            if os.getppid() != self.parent:
                return "eof"
            now = perf()
            due = min(self.next_immediate(), next_tick) if self.immediate else next_tick
            wait = due - now - SPIN_S
            # The controller's wake byte can wait for its GIL behind a busy session, so in keep-alive mode
            # the memory is also looked at every POLL_S: a changed frame never waits for that thread.
            command = self._commands(min(wait, POLL_S) if self.immediate else wait)
            if command is not None:
                return command
            now = perf()
            if now < due - SPIN_S:  # woken early (a frame changed): see whether it may go now
                if self.immediate and self.next_immediate() <= now:
                    self.send_due(now)
                continue
            while perf() < due:  # bounded: at most SPIN_S plus a scheduler hiccup
                pass
            now = perf()
            self.send_due(now)
            if now >= next_tick:
                next_tick += self.period
                if next_tick < now - self.period:  # stalled: restart the schedule instead of bursting
                    next_tick = now + self.period

    def finish(self, how: str) -> None:
        if how == "f":
            self.send_due(time.perf_counter(), force=True)
        if self.terminate is not None and how in ("f", "eof"):
            for index, universe in enumerate(self.universes):
                slot = self._latest(index)
                frame = slot[2] if slot is not None else self.frames[index]
                try:
                    self.terminate(universe, frame)
                except OSError as exc:
                    self.reporter.add(Kind.WARNING, universe, text=f"stream termination failed: {exc}")
        self.reporter.add(Kind.BYE)
        self.reporter.flush()
        self.sock.close()


def _realtime(priority: int | None, reporter: _Reporter) -> None:
    if priority is None:
        return
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (OSError, AttributeError) as exc:
        reporter.add(Kind.WARNING, text=f"sender stays at normal priority (SCHED_FIFO needs CAP_SYS_NICE): {exc}")


def main(argv: list[str]) -> int:
    """Run the sender: ``argv`` = [spec JSON, shared-memory fd]; stdin is control, stdout reports."""
    spec = json.loads(argv[0])
    memory = mmap.mmap(int(argv[1]), SLOT_SIZE * len(spec["universes"]))
    reporter = _Reporter(sys.stdout.fileno())
    control = sys.stdin.fileno()
    try:
        sender = _Sender(spec, memory, control, reporter)
    except (OSError, KeyError, ValueError) as exc:
        reporter.add(Kind.FAILED, text=f"{type(exc).__name__}: {exc}")
        reporter.flush()
        return 2
    _realtime(spec["realtime_priority"], reporter)
    reporter.add(Kind.READY)
    reporter.flush()
    gc.disable()  # no collector pauses between ticks; the loop allocates little and makes no cycles
    how = sender.run()
    sender.finish(how)
    return 0
