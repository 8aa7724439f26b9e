"""The agent's events: numbered from 1 per boot, kept for the boot's life, replayed to any reconnect.

A live event may carry the bytes of its small files (``payloads``) to the sockets following it at that moment;
they are not kept: a replay carries the event alone, and the controller pulls those files as any other.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any

from capturerig.devices.remote import AgentEvent

__all__ = ["EventLog", "Live"]


@dataclass(frozen=True)
class Live:
    """An event as it is published: with the bytes of the small files it names (file id -> bytes)."""

    event: AgentEvent
    payloads: dict[str, bytes | bytearray | memoryview]


class EventLog:
    """Every event of this boot, in order; live subscribers get each as it is published."""

    def __init__(self, boot_id: str) -> None:
        self.boot_id = boot_id
        self._events: list[AgentEvent] = []
        self._lock = threading.Lock()
        self._subscribers: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Live]]] = []

    @property
    def last_seq(self) -> int:
        with self._lock:
            return len(self._events)

    def publish(self, payloads: dict[str, bytes | bytearray | memoryview] | None = None, **fields: Any) -> AgentEvent:
        """Number and keep an event, and hand it to every live subscriber (from any thread), with ``payloads``
        (file id -> bytes) for them only."""
        with self._lock:  # handed on inside the lock: two threads publishing at once keep their order
            event = AgentEvent(boot_id=self.boot_id, seq=len(self._events) + 1, at=time.time(), **fields)
            self._events.append(event)
            for loop, queue in self._subscribers:
                loop.call_soon_threadsafe(queue.put_nowait, Live(event, payloads or {}))
        return event

    @property
    def live_subscribers(self) -> int:
        """How many event sockets follow the events live now."""
        with self._lock:
            return len(self._subscribers)

    def kept(self) -> list[AgentEvent]:
        """Every event of this boot so far."""
        with self._lock:
            return list(self._events)

    def heartbeat(self, sent_seq: int) -> AgentEvent:
        """Not kept: it carries the number of the last event sent on its socket, so the controller can tell
        that it holds every event so far (or that it missed one, and replays)."""
        return AgentEvent(boot_id=self.boot_id, seq=sent_seq, at=time.time(), kind="heartbeat")

    def subscribe(self, since: int) -> tuple[list[AgentEvent], asyncio.Queue[Live]]:
        """The events after ``since`` and a queue of the ones to come (no gap, no repeat between the two)."""
        queue: asyncio.Queue[Live] = asyncio.Queue()
        with self._lock:
            backlog = self._events[max(0, since):]
            self._subscribers.append((asyncio.get_running_loop(), queue))
        return backlog, queue

    def unsubscribe(self, queue: asyncio.Queue[Live]) -> None:
        with self._lock:
            self._subscribers = [(loop, q) for loop, q in self._subscribers if q is not queue]
