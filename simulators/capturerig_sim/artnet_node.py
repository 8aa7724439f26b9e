"""An Art-Net node on UDP loopback: answers ArtPoll, records every ArtDmx, checks the receiver rules.

What it received goes into the virtual studio (``studio.set_frame(output_id, universe, levels)``), so the sim
cameras render what actually crossed the wire. Rules checked (each break is kept in :attr:`violations`):
ProtVer >= 14, an even Length of 2..512, sequence numbers in order (1..255 wrapping past 0, 0 = unsequenced),
and no universe silent for more than 4 s between two ArtDmx (Art-Net's keep-alive).
ArtSync: once one arrives the node is in synchronous mode, holding ArtDmx until the next ArtSync; after 4 s
without one it goes back to outputting each ArtDmx at once (Art-Net 4).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass

from capturerig.config import DMX_UNIVERSE_SIZE
from capturerig.devices._artnet_packets import (
    ARTNET_PORT,
    PORT_TYPE_OUTPUT,
    ArtDmx,
    ArtNetPacketError,
    ArtPoll,
    ArtPollReply,
    ArtSync,
    build_artpollreply,
    next_sequence,
    parse_artnet,
)
from capturerig_sim._udp_listener import UdpListener
from capturerig_sim.studio import VirtualStudio

__all__ = ["KEEPALIVE_LIMIT_S", "ArtNetNode", "ReceivedDmx"]

log = logging.getLogger(__name__)
KEEPALIVE_LIMIT_S = 4.0
_SYNC_TIMEOUT_S = 4.0
_LOG_SIZE = 200_000  # about 75 minutes of one universe at 44 Hz


@dataclass(frozen=True)
class ReceivedDmx:
    """One ArtDmx as it arrived: ``received_at`` is time.perf_counter()."""

    received_at: float
    sender: tuple[str, int]
    packet: ArtDmx


class ArtNetNode(UdpListener):
    """A simulated Art-Net node bound on ``host:port`` (port 0 picks a free one, see :attr:`port`).

    Parameters
    ----------
    host, port
        Where to listen (loopback only in tests).
    studio, output_id
        When given, every applied frame goes to ``studio.set_frame(output_id, port_address, levels)``.
    short_name, long_name
        What ArtPollReply says.
    universes
        Port-Addresses the node reports as DMX outputs in ArtPollReply (at most 4, sharing Net and Sub-Net).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = ARTNET_PORT, *, studio: VirtualStudio | None = None,
                 output_id: str | None = None, short_name: str = "capturerig-sim",
                 long_name: str = "capturerig simulated Art-Net node", universes: tuple[int, ...] = (0,)) -> None:
        self.studio = studio
        self.output_id = output_id
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.bind((host, port))
        except OSError:
            self._sock.close()
            raise
        self.host, self.port = self._sock.getsockname()
        outputs = universes[:4]
        self.reply = ArtPollReply(ip=self.host, port=self.port, short_name=short_name, long_name=long_name,
                                  node_report="#0001 [0000] capturerig sim ok",
                                  net_switch=(outputs[0] >> 8) if outputs else 0,
                                  sub_switch=(outputs[0] >> 4) & 0x0F if outputs else 0,
                                  port_types=tuple(PORT_TYPE_OUTPUT for _ in outputs),
                                  sw_out=tuple(u & 0x0F for u in outputs), style=0)
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self.received: deque[ReceivedDmx] = deque(maxlen=_LOG_SIZE)
        self.syncs: deque[float] = deque(maxlen=_LOG_SIZE)
        self.polls_answered = 0
        self.malformed: list[str] = []
        self.violations: list[str] = []
        self._last_sequence: dict[int, int] = {}
        self._last_at: dict[int, float] = {}
        self._max_gap: dict[int, float] = {}
        self._frames: dict[int, bytes] = {}
        self._pending: dict[int, bytes] = {}
        self._last_sync: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"artnet-node-{self.host}:{self.port}", daemon=True)

    # -- what tests read ---------------------------------------------------------------------------------
    def frame(self, universe: int) -> bytes:
        """The levels the node outputs on ``universe`` now (512, zero-padded; blackout if nothing came)."""
        with self._lock:
            return self._frames.get(universe, bytes(DMX_UNIVERSE_SIZE))

    def packets(self, universe: int | None = None) -> list[ReceivedDmx]:
        """ArtDmx received so far (of one universe when given), oldest first."""
        with self._lock:
            return [r for r in self.received if universe is None or r.packet.port_address == universe]

    def max_gap(self, universe: int) -> float:
        """The longest silence between two ArtDmx of ``universe`` so far (seconds)."""
        with self._lock:
            return self._max_gap.get(universe, 0.0)

    def wait_for(self, count: int, timeout_s: float, universe: int | None = None) -> list[ReceivedDmx]:
        """Wait until ``count`` ArtDmx (of ``universe``) arrived or ``timeout_s`` passed; returns them."""
        deadline = time.monotonic() + timeout_s
        with self._arrived:
            while True:
                got = [r for r in self.received if universe is None or r.packet.port_address == universe]
                left = deadline - time.monotonic()
                if len(got) >= count or left <= 0:
                    return got
                self._arrived.wait(left)

    # -- receiver ----------------------------------------------------------------------------------------
    def _run(self) -> None:
        self._sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                data, sender = self._sock.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                break  # closed under us
            now = time.perf_counter()
            try:
                packet = parse_artnet(data)
            except ArtNetPacketError as exc:
                with self._lock:
                    self.malformed.append(f"from {sender[0]}:{sender[1]}: {exc}")
                continue
            if isinstance(packet, ArtPoll):
                self._answer_poll(sender)
            elif isinstance(packet, ArtDmx):
                self._on_dmx(packet, (sender[0], sender[1]), now)
            elif isinstance(packet, ArtSync):
                self._on_sync(now)

    def _answer_poll(self, sender: tuple[str, int]) -> None:
        # Art-Net 4 unicasts the reply to the controller; answering the poll's source port also reaches
        # controllers that poll from an ephemeral port, as most software does.
        try:
            self._sock.sendto(build_artpollreply(self.reply), sender)
        except OSError as exc:
            log.warning("ArtPollReply to %s failed: %s", sender, exc)
            return
        with self._lock:
            self.polls_answered += 1

    def _check(self, packet: ArtDmx, now: float) -> list[str]:
        universe, problems = packet.port_address, []
        if len(packet.data) % 2 or len(packet.data) < 2:
            problems.append(f"universe {universe}: Length {len(packet.data)} is not even and 2..512")
        last = self._last_sequence.get(universe)
        if packet.sequence != 0 and last is not None and last != 0 and packet.sequence != next_sequence(last):
            problems.append(f"universe {universe}: sequence {packet.sequence} after {last}")
        previous = self._last_at.get(universe)
        if previous is not None:
            gap = now - previous
            self._max_gap[universe] = max(self._max_gap.get(universe, 0.0), gap)
            if gap > KEEPALIVE_LIMIT_S:
                problems.append(f"universe {universe}: {gap:.2f} s without ArtDmx (keep-alive is 4 s)")
        return problems

    def _on_dmx(self, packet: ArtDmx, sender: tuple[str, int], now: float) -> None:
        universe = packet.port_address
        levels = packet.data[:DMX_UNIVERSE_SIZE].ljust(DMX_UNIVERSE_SIZE, b"\x00")
        with self._arrived:
            self.violations += self._check(packet, now)
            self._last_sequence[universe] = packet.sequence
            self._last_at[universe] = now
            self.received.append(ReceivedDmx(now, sender, packet))
            synchronous = self._last_sync is not None and now - self._last_sync <= _SYNC_TIMEOUT_S
            if synchronous:
                self._pending[universe] = levels
            else:
                self._frames[universe] = levels
            self._arrived.notify_all()
        if not synchronous:
            self._output({universe: levels})

    def _on_sync(self, now: float) -> None:
        with self._arrived:
            self._last_sync = now
            self.syncs.append(now)
            pending, self._pending = self._pending, {}
            self._frames.update(pending)
            self._arrived.notify_all()
        self._output(pending)

    def _output(self, frames: dict[int, bytes]) -> None:
        if self.studio is None or self.output_id is None:
            return
        for universe, levels in frames.items():
            self.studio.set_frame(self.output_id, universe, levels)
