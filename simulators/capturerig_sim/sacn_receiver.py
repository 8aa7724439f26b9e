"""An sACN (E1.31) receiver on UDP loopback that applies the receivers' rules of E1.31 6.7.

Rules: a packet whose sequence number is 0 to 19 behind the last one from the same source and universe is
discarded (a signed 8-bit difference in -19..0, E1.31 6.7.2); a source silent for 2.5 s is lost
(E131_NETWORK_DATA_LOSS_TIMEOUT); a Stream_Terminated packet ends the source at once and its levels are
ignored; preview packets and non-zero START codes never drive fixtures; the highest priority wins and equal
priorities merge highest-takes-precedence. A lost source is a violation (the sender stopped keeping alive);
a discarded packet is a violation of the sender's sequence; with no sources left the output holds its last
look. The merged levels go to ``studio.set_frame(output_id, universe, levels)``.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from capturerig.config import DMX_UNIVERSE_SIZE
from capturerig.devices._sacn_packets import SACN_PORT, E131Data, E131PacketError, multicast_address, parse_e131
from capturerig_sim._udp_listener import UdpListener
from capturerig_sim.studio import VirtualStudio

__all__ = ["SOURCE_LOSS_S", "ReceivedE131", "SacnReceiver"]

log = logging.getLogger(__name__)
SOURCE_LOSS_S = 2.5
_LOG_SIZE = 200_000


@dataclass(frozen=True)
class ReceivedE131:
    """One data packet as it arrived: ``received_at`` is time.perf_counter(); ``accepted`` per the rules."""

    received_at: float
    sender: tuple[str, int]
    packet: E131Data
    accepted: bool


@dataclass
class _Source:
    name: str
    priority: int
    sequence: int
    last_at: float
    levels: bytes


class SacnReceiver(UdpListener):
    """A simulated sACN receiver bound on ``host:port`` (port 0 picks a free one, see :attr:`port`).

    Parameters
    ----------
    host, port
        Where to listen for unicast (and multicast, when joined).
    studio, output_id
        When given, every merged frame goes to ``studio.set_frame(output_id, universe, levels)``.
    multicast_universes
        Universes whose multicast groups to join on ``multicast_interface`` (bind ``host`` to 0.0.0.0 then).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = SACN_PORT, *, studio: VirtualStudio | None = None,
                 output_id: str | None = None, multicast_universes: Sequence[int] = (),
                 multicast_interface: str = "127.0.0.1") -> None:
        self.studio = studio
        self.output_id = output_id
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            if multicast_universes:  # every process of the machine (controller, agents) receives the group
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            self._sock.bind((host, port))
            for universe in multicast_universes:
                group = socket.inet_aton(multicast_address(universe)) + socket.inet_aton(multicast_interface)
                self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, group)
        except OSError:
            self._sock.close()
            raise
        self.host, self.port = self._sock.getsockname()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self.received: deque[ReceivedE131] = deque(maxlen=_LOG_SIZE)
        self.malformed: list[str] = []
        self.violations: list[str] = []
        self.terminations: list[tuple[bytes, int, int]] = []  # (cid, universe, sequence) of each terminate packet
        self.lost: list[tuple[bytes, int]] = []
        self._sources: dict[tuple[bytes, int], _Source] = {}
        self._ended: set[tuple[bytes, int]] = set()  # terminated sources: their later terminate packets are quiet
        self._frames: dict[int, bytes] = {}
        self._gaps: dict[tuple[bytes, int], deque[float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sacn-receiver-{self.host}:{self.port}", daemon=True)

    # -- what tests read ---------------------------------------------------------------------------------
    def frame(self, universe: int) -> bytes:
        """The merged levels on ``universe`` now (512; blackout if nothing came)."""
        with self._lock:
            return self._frames.get(universe, bytes(DMX_UNIVERSE_SIZE))

    def packets(self, universe: int | None = None) -> list[ReceivedE131]:
        """Data packets received so far (of one universe when given), oldest first."""
        with self._lock:
            return [r for r in self.received if universe is None or r.packet.universe == universe]

    def active_sources(self, universe: int) -> dict[bytes, str]:
        """CID -> source name of the sources currently driving ``universe``."""
        with self._lock:
            return {cid: s.name for (cid, u), s in self._sources.items() if u == universe}

    def wait_for(self, count: int, timeout_s: float, universe: int | None = None) -> list[ReceivedE131]:
        """Wait until ``count`` data packets (of ``universe``) arrived or ``timeout_s`` passed; returns them."""
        deadline = time.monotonic() + timeout_s
        with self._arrived:
            while True:
                got = [r for r in self.received if universe is None or r.packet.universe == universe]
                left = deadline - time.monotonic()
                if len(got) >= count or left <= 0:
                    return got
                self._arrived.wait(left)

    def check_sources(self, now: float | None = None) -> None:
        """Drop sources silent for 2.5 s (the receive loop does this every 100 ms)."""
        now = time.perf_counter() if now is None else now
        changed = set()
        with self._arrived:
            for key, source in list(self._sources.items()):
                if now - source.last_at > SOURCE_LOSS_S:
                    del self._sources[key]
                    self.lost.append(key)
                    self.violations.append(f"universe {key[1]}: source '{source.name}' lost "
                                           f"({now - source.last_at:.2f} s without a packet)")
                    changed.add(key[1])
            merged = {u: self._merge(u) for u in changed}
        self._output(merged)

    # -- receiver ----------------------------------------------------------------------------------------
    def _run(self) -> None:
        self._sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                data, sender = self._sock.recvfrom(1500)
            except TimeoutError:
                self.check_sources()
                continue
            except OSError:
                break
            now = time.perf_counter()
            try:
                packet = parse_e131(data)
            except E131PacketError as exc:
                with self._lock:
                    self.malformed.append(f"from {sender[0]}:{sender[1]}: {exc}")
                continue
            self._on_data(packet, (sender[0], sender[1]), now)
            self.check_sources(now)

    def _on_data(self, packet: E131Data, sender: tuple[str, int], now: float) -> None:
        key = (packet.cid, packet.universe)
        merged: dict[int, bytes] = {}
        with self._arrived:
            source = self._sources.get(key)
            accepted = True
            if source is not None:
                difference = (packet.sequence - source.sequence + 128) % 256 - 128  # signed 8-bit
                if -20 < difference <= 0:
                    accepted = False
                    self.violations.append(f"universe {packet.universe}: sequence {packet.sequence} after "
                                           f"{source.sequence} from '{source.name}' (discarded)")
            if packet.stream_terminated:
                self.terminations.append((packet.cid, packet.universe, packet.sequence))
                accepted = False
                if self._sources.pop(key, None) is not None:
                    self._ended.add(key)
                    merged[packet.universe] = self._merge(packet.universe)
            elif accepted and not packet.preview and packet.start_code == 0:
                levels = packet.data[:DMX_UNIVERSE_SIZE].ljust(DMX_UNIVERSE_SIZE, b"\x00")
                if source is not None:
                    self._gaps.setdefault(key, deque(maxlen=_LOG_SIZE)).append(now - source.last_at)
                    source.name, source.priority, source.sequence, source.last_at = (
                        packet.source_name, packet.priority, packet.sequence, now)
                    source.levels = levels
                else:
                    self._sources[key] = _Source(packet.source_name, packet.priority, packet.sequence, now, levels)
                    self._ended.discard(key)
                merged[packet.universe] = self._merge(packet.universe)
            elif accepted and source is not None:  # preview or another START code: alive, but no levels
                source.sequence, source.last_at = packet.sequence, now
            self.received.append(ReceivedE131(now, sender, packet, accepted))
            self._arrived.notify_all()
        self._output(merged)

    def keepalive_gaps(self, cid: bytes, universe: int) -> list[float]:
        """Seconds between consecutive accepted packets of one source on one universe."""
        with self._lock:
            return list(self._gaps.get((cid, universe), []))

    def _merge(self, universe: int) -> bytes:
        """Highest priority wins; equal priorities merge HTP. No source left: hold the last look."""
        sources = [s for (_, u), s in self._sources.items() if u == universe]
        if not sources:
            return self._frames.get(universe, bytes(DMX_UNIVERSE_SIZE))
        top = max(s.priority for s in sources)
        winners = [s.levels for s in sources if s.priority == top]
        levels = winners[0] if len(winners) == 1 else bytes(map(max, *winners))
        self._frames[universe] = levels
        return levels

    def _output(self, frames: dict[int, bytes]) -> None:
        if self.studio is None or self.output_id is None:
            return
        for universe, levels in frames.items():
            self.studio.set_frame(self.output_id, universe, levels)
