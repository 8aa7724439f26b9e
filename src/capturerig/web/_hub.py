"""Engine events to WebSocket clients without ever blocking the engine.

An engine thread hands each event to the server's event loop with ``call_soon_threadsafe`` (a non-blocking
write to the loop's wake-up pipe) after serialising it once. On the loop the event first updates the
panel's views (so a client that connects later gets a consistent snapshot), then goes into every client's
bounded queue, followed by what the views answered (their ``ViewPatch``). A client that reads too slowly
loses its oldest messages, not the engine's time: the queue drops from the front and counts, and the
socket tells the client how many it missed and sends it a fresh snapshot.
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
# A view's update: takes each message, may answer with a message of its own for the clients (sent after it).
Reducer = Callable[[dict[str, Any]], dict[str, Any] | None]


def event_message(event: Event, session: str) -> dict[str, Any]:
    """An engine event as the JSON-ready message clients receive: its fields, ``kind`` and ``session``."""
    message: dict[str, Any] = {"kind": event.kind, "session": session}
    message.update(asdict(event))
    return message


class ClientQueue:
    """One client's pending messages (JSON text); bounded, dropping the oldest when full.

    ``events`` False: the client wants the views' patches only, not the messages they were reduced from (the
    panel's page, which renders the views).
    """

    def __init__(self, maxsize: int, events: bool = True) -> None:
        self.maxsize = maxsize
        self.events = events
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
        answers: list[str] = []
        for reducer in self.reducers:
            try:
                answer = reducer(message)
                if answer is not None:
                    answers.append(json.dumps(answer, default=str))
            except Exception:  # a view bug must not stop events reaching the clients
                log.exception("panel view failed on %s", message.get("kind"))
        for client in list(self.clients):
            if client.events:
                client.put(text)
            for answer_text in answers:
                client.put(answer_text)

    def connect(self, events: bool = True) -> ClientQueue:
        """A new client's queue (event-loop thread); ``events`` False: the views' patches only."""
        client = ClientQueue(self.queue_size, events)
        self.clients.add(client)
        return client

    def disconnect(self, client: ClientQueue) -> None:
        self.clients.discard(client)
