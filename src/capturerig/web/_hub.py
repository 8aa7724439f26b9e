"""Engine events to WebSocket clients without ever blocking the engine.

An engine thread hands each event to the server's event loop with ``call_soon_threadsafe`` (a non-blocking
write to the loop's wake-up pipe) after serialising it once. On the loop the event first updates the
panel's views (so a client that connects later gets a consistent snapshot), then goes into every client's
bounded queue. A client that reads too slowly loses its oldest events, not the engine's time: the queue
drops from the front and counts, and the client is told how many it missed so it can fetch a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from capturerig.engine import Event

__all__ = ["ClientQueue", "EventHub", "Reducer", "event_message"]

log = logging.getLogger(__name__)
Reducer = Callable[[dict[str, Any]], None]


def event_message(event: Event, session: str) -> dict[str, Any]:
    """An engine event as the JSON-ready message clients receive: its fields, ``kind`` and ``session``."""
    message: dict[str, Any] = {"kind": event.kind, "session": session}
    message.update(asdict(event))
    return message


class ClientQueue:
    """One client's pending messages (JSON text); bounded, dropping the oldest when full."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.dropped = 0
        self.reported = 0  # drops the client has been told about
        self._items: deque[str] = deque()
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, text: str) -> None:
        """Queue ``text`` (event-loop thread only); never waits."""
        if len(self._items) >= self.maxsize:
            self._items.popleft()
            self.dropped += 1
        self._items.append(text)
        self._ready.set()

    async def get(self) -> str:
        """The oldest pending message, waiting for one if none is queued."""
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()


class EventHub:
    """Fans messages out to WebSocket clients; ``reducers`` keep the panel's views current.

    ``publish_threadsafe`` may be called from any thread (the engine's); everything else runs on the
    event loop given to :meth:`bind`.
    """

    def __init__(self, queue_size: int, reducers: list[Reducer] | None = None) -> None:
        self.queue_size = queue_size
        self.reducers = list(reducers or [])
        self.clients: set[ClientQueue] = set()
        self.published = 0
        self.lost_before_loop = 0  # published while no loop was bound (server not started): views only
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def bind(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Deliver on ``loop`` from now on (None: apply to the views at once, in the caller's thread)."""
        with self._lock:
            self._loop = loop

    @property
    def dropped(self) -> int:
        """Messages dropped for slow clients, over the clients connected now."""
        return sum(client.dropped for client in self.clients)

    def publish_threadsafe(self, message: dict[str, Any]) -> None:
        """Send ``message`` to every client; returns at once, from any thread; never raises."""
        try:
            text = json.dumps(message, default=str)
        except (TypeError, ValueError):
            log.exception("could not serialise %s for the panel", message.get("kind"))
            return
        with self._lock:
            loop = self._loop
        if loop is None:
            self.lost_before_loop += 1
            self._dispatch(message, text)
            return
        try:
            loop.call_soon_threadsafe(self._dispatch, message, text)
        except RuntimeError:  # the loop closed while the engine still ran (server shutting down)
            self.lost_before_loop += 1

    def publish(self, message: dict[str, Any]) -> None:
        """Send ``message`` from the event loop's own thread."""
        self._dispatch(message, json.dumps(message, default=str))

    def _dispatch(self, message: dict[str, Any], text: str) -> None:
        self.published += 1
        for reducer in self.reducers:
            try:
                reducer(message)
            except Exception:  # a view bug must not stop events reaching the clients
                log.exception("panel view failed on %s", message.get("kind"))
        for client in list(self.clients):
            client.put(text)

    def connect(self) -> ClientQueue:
        """A new client's queue (event-loop thread)."""
        client = ClientQueue(self.queue_size)
        self.clients.add(client)
        return client

    def disconnect(self, client: ClientQueue) -> None:
        self.clients.discard(client)
