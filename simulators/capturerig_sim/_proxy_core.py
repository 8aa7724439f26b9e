"""The fault proxy inside its event loop: the listening socket, the open links, the faults and the counters.

Not thread-safe: :class:`capturerig_sim.faultproxy.FaultProxy` calls every method on the loop's own thread.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace

from capturerig_sim._proxy_faults import DIRECTIONS, Direction, Faults, ProxyCounters, TokenBucket, directions
from capturerig_sim._proxy_link import CHUNK, Link

__all__ = ["ProxyCore"]


class ProxyCore:
    """Accepts on ``listen``, forwards each connection to ``target`` through the faults set now.

    Partition model: while partitioned nothing is forwarded either way and new connections are accepted but
    held (the peer sees silence, not a refusal). On :meth:`heal`, a partition that lasted at most
    ``partition_survival`` seconds lets the held bytes through and the connections carry on, as TCP rides
    out a short outage by retransmitting; after a longer one every connection that lived through it is
    reset, the simple model of a peer (or a keep-alive) that gave up, so the application must reconnect.
    """

    def __init__(self, listen: tuple[str, int], target: tuple[str, int], seed: int, partition_survival: float,
                 connect_timeout: float) -> None:
        if partition_survival < 0:
            raise ValueError(f"partition_survival must be >= 0 seconds, not {partition_survival}")
        self.target = target
        self.seed = seed
        self.connect_timeout = connect_timeout
        self.partition_survival = partition_survival
        self.faults = Faults()
        self.flowing = asyncio.Event()
        self.flowing.set()
        self._listen = listen
        self._server: asyncio.Server | None = None
        self._links: set[Link] = set()
        self._buckets: dict[Direction, TokenBucket | None] = dict.fromkeys(DIRECTIONS)
        self._counters = ProxyCounters()
        self._partitioned_at: float | None = None

    @property
    def address(self) -> tuple[str, int]:
        return self._listen

    async def start(self) -> None:
        listening = socket.create_server(self._listen, backlog=128)
        self._listen = listening.getsockname()[:2]  # the port chosen for 0, kept for up() after down()
        self._server = await asyncio.start_server(self._accept, sock=listening, limit=CHUNK)

    async def stop(self) -> None:
        self.down()
        for link in list(self._links):
            link.close()
        # A link's task ends on its next step; give every one that step before the loop closes.
        deadline = asyncio.get_running_loop().time() + 2.0
        while self._links and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.001)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = self._counters.connections_opened + 1
        self._counters = replace(self._counters, connections_opened=number)
        link = Link(self, number, reader, writer)
        self._links.add(link)
        link.start()

    # What the links ask of their proxy (LinkHost).

    def bucket(self, direction: Direction) -> TokenBucket | None:
        return self._buckets[direction]

    def forwarded(self, direction: Direction, size: int) -> None:
        c = self._counters
        self._counters = (replace(c, bytes_upstream=c.bytes_upstream + size) if direction == "upstream"
                          else replace(c, bytes_downstream=c.bytes_downstream + size))

    def reset_link(self, link: Link) -> None:
        if link in self._links:
            self._counters = replace(self._counters, connections_reset=self._counters.connections_reset + 1)
        link.reset()

    def link_ended(self, link: Link) -> None:
        self._links.discard(link)

    # Faults (see FaultProxy for their documentation).

    def counters(self) -> ProxyCounters:
        return replace(self._counters, connections_open=len(self._links))

    def set_latency(self, delay: float, jitter: float = 0.0, direction: str = "both") -> None:
        self.faults = self.faults.changed(direction, delay=delay, jitter=jitter)

    def set_bandwidth(self, rate: float | None, direction: str = "both") -> None:
        self.faults = self.faults.changed(direction, rate=rate)
        now = asyncio.get_running_loop().time()
        for way in directions(direction):
            self._buckets[way] = None if rate is None else TokenBucket(rate, now)

    def set_slice(self, size: int | None, delay: float = 0.0, direction: str = "both") -> None:
        self.faults = self.faults.changed(direction, slice_size=size, slice_delay=delay)

    def reset_after(self, nbytes: int | None, direction: str = "both") -> None:
        self.faults = self.faults.changed(direction, reset_after=nbytes)

    def reset(self) -> int:
        links = list(self._links)
        for link in links:
            self.reset_link(link)
        return len(links)

    def partition(self) -> None:
        if self._partitioned_at is None:
            self._partitioned_at = asyncio.get_running_loop().time()
            self.faults = replace(self.faults, partitioned=True)
            self.flowing.clear()

    def heal(self, reset: bool | None = None) -> bool:
        if self._partitioned_at is None:
            return True
        lasted = asyncio.get_running_loop().time() - self._partitioned_at
        survived = lasted <= self.partition_survival if reset is None else not reset
        if not survived:
            self.reset()  # before the held bytes may flow
        self._partitioned_at = None
        self.faults = replace(self.faults, partitioned=False)
        self.flowing.set()
        return survived

    def down(self) -> None:
        if self._server is not None:
            self._server.close()  # closes the listening socket: a connect now gets ECONNREFUSED
            self._server = None
            self.faults = replace(self.faults, down=True)

    async def up(self) -> None:
        if self._server is not None:
            return
        try:
            listening = socket.create_server(self._listen, backlog=128)
        except OSError as error:
            raise RuntimeError(f"fault proxy cannot listen on {self._listen[0]}:{self._listen[1]} again "
                               f"({error}): another program took the port while the proxy was down") from error
        self._server = await asyncio.start_server(self._accept, sock=listening, limit=CHUNK)
        self.faults = replace(self.faults, down=False)

    async def clear(self) -> None:
        self.heal()
        await self.up()
        for way in DIRECTIONS:
            self._buckets[way] = None
        self.faults = Faults()
