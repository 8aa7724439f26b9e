"""One proxied connection: client <-> target, each way a reader feeding a queue and a sender applying faults.

Reading and sending are separate tasks so latency delays bytes without slowing the flow (a long pipe, not a
slow one); the queue between them is bounded, so a sender whose bytes are held back (partition, bandwidth)
feels back-pressure as it would from a full link.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Iterator
from typing import Protocol

from capturerig_sim._proxy_faults import Direction, Faults, TokenBucket, delay_draws

__all__ = ["CHUNK", "Link", "LinkHost"]

_log = logging.getLogger(__name__)
CHUNK = 256 * 1024  # bytes per read (and the streams' buffer limit): 64 KiB reads cost 30 % of throughput
_QUEUED_CHUNKS = 4  # at most 1 MiB held per direction before the sender's writes block
_Item = tuple[float, bytes]  # (when it may be sent, loop time; the bytes, b"" = end of stream)


class LinkHost(Protocol):
    """What a link needs from the proxy that owns it (``_proxy_core.ProxyCore``)."""

    faults: Faults
    flowing: asyncio.Event  # cleared while partitioned
    seed: int
    target: tuple[str, int]
    connect_timeout: float

    def bucket(self, direction: Direction) -> TokenBucket | None: ...
    def forwarded(self, direction: Direction, size: int) -> None: ...
    def reset_link(self, link: Link) -> None: ...
    def link_ended(self, link: Link) -> None: ...


def _pieces(data: bytes, size: int | None) -> Iterator[bytes]:
    if size is None or size >= len(data):
        yield data
        return
    for start in range(0, len(data), size):
        yield data[start:start + size]


def _no_delay(writer: asyncio.StreamWriter) -> None:
    # The proxy must not add Nagle's wait to small writes (slices, WebSocket frames): it would distort latency.
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Link:
    """A client's connection and the proxy's connection to the target for it."""

    def __init__(self, host: LinkHost, number: int, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.number = number  # 1 for the proxy's first connection: seeds its jitter
        self._host = host
        self._client = (reader, writer)
        self._target: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._task: asyncio.Task[None] | None = None
        self._ways: list[asyncio.Task[None]] = []  # the four pumps, once connected

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"faultproxy link {self.number}")
        self._task.add_done_callback(self._ended)

    def reset(self) -> None:
        """Cut both sides now with a TCP RST (SO_LINGER 0): each peer reads ECONNRESET, unsent bytes are lost."""
        self._abort(rst=True)

    def close(self) -> None:
        """Drop both sides without the RST (the proxy is shutting down)."""
        self._abort(rst=False)

    def _abort(self, rst: bool) -> None:
        writers = [self._client[1]] + ([self._target[1]] if self._target else [])
        for writer in writers:
            sock = writer.get_extra_info("socket")
            if rst and sock is not None and sock.fileno() >= 0:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        # Cancel the pumps now, not on _run's next step: a heal that resets must not let held bytes out first.
        for task in [*self._ways, *([self._task] if self._task else [])]:
            task.cancel()

    def _ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            _log.error("fault proxy link %d failed", self.number, exc_info=task.exception())
        self._host.link_ended(self)

    async def _run(self) -> None:
        # A connection accepted during a partition reaches the target only once it heals (if it survives).
        await self._host.flowing.wait()
        try:
            self._target = await asyncio.wait_for(asyncio.open_connection(*self._host.target, limit=CHUNK),
                                                  self._host.connect_timeout)
        except (OSError, TimeoutError):
            # The client's connection is already accepted, so a reset is the nearest to "refused" it can see.
            self._abort(rst=True)
            return
        for writer in (self._client[1], self._target[1]):
            _no_delay(writer)
        (client_in, client_out), (target_in, target_out) = self._client, self._target
        up: asyncio.Queue[_Item] = asyncio.Queue(maxsize=_QUEUED_CHUNKS)
        down: asyncio.Queue[_Item] = asyncio.Queue(maxsize=_QUEUED_CHUNKS)
        self._ways = tasks = [asyncio.create_task(self._feed(client_in, up, "upstream")),
                              asyncio.create_task(self._send(up, target_out, "upstream")),
                              asyncio.create_task(self._feed(target_in, down, "downstream")),
                              asyncio.create_task(self._send(down, client_out, "downstream"))]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)  # collects every ending, reset or not
        errors = [error for task in done if not task.cancelled() and (error := task.exception()) is not None]
        unexpected = [error for error in errors if not isinstance(error, OSError)]
        if unexpected:
            raise unexpected[0]
        if errors:
            self._abort(rst=True)  # a peer reset or vanished: pass it on as a reset, as a middlebox would
            return
        client_out.close()
        target_out.close()

    async def _feed(self, reader: asyncio.StreamReader, queue: asyncio.Queue[_Item], direction: Direction) -> None:
        loop = asyncio.get_running_loop()
        draws = delay_draws(self._host.seed, self.number, direction)
        last_due = 0.0
        while True:
            data = await reader.read(CHUNK)
            way = self._host.faults.way(direction)
            # Always draw, so the jitter sequence does not depend on when jitter was switched on.
            due = loop.time() + way.delay + way.jitter * draws.random()
            last_due = max(last_due, due)  # jitter delays bytes, never reorders them
            await queue.put((last_due, data))
            if not data:
                return

    async def _send(self, queue: asyncio.Queue[_Item], writer: asyncio.StreamWriter, direction: Direction) -> None:
        loop = asyncio.get_running_loop()
        sent = 0
        while True:
            due, data = await queue.get()
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            await self._host.flowing.wait()
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            way = self._host.faults.way(direction)
            for piece in _pieces(data, way.slice_size):
                cut = way.reset_after is not None and sent + len(piece) >= way.reset_after
                if way.reset_after is not None and cut:
                    piece = piece[:max(0, way.reset_after - sent)]  # exactly reset_after bytes pass
                await self._write(writer, piece, direction)
                sent += len(piece)
                if cut:
                    self._host.reset_link(self)
                    return
                if way.slice_size is not None and way.slice_delay > 0:
                    await asyncio.sleep(way.slice_delay)

    async def _write(self, writer: asyncio.StreamWriter, data: bytes, direction: Direction) -> None:
        loop = asyncio.get_running_loop()
        bucket = self._host.bucket(direction)
        step = len(data) if bucket is None else int(bucket.burst)
        for start in range(0, len(data), max(1, step)):
            part = data[start:start + step] if step < len(data) else data
            if bucket is not None:
                wait = bucket.reserve(len(part), loop.time())
                if wait > 0:
                    await asyncio.sleep(wait)
            await self._host.flowing.wait()  # a partition may have begun while this waited
            writer.write(part)
            await writer.drain()
            self._host.forwarded(direction, len(part))
