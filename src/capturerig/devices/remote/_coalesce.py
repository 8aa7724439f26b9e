"""Requests to one host that pile up while one is in flight go together in the next.

Sixteen cameras of a host are connected, set (or their spool lines written) by sixteen threads at about the same
moment; sent one request each they cost sixteen round trips of HTTP work on both ends. A ``Coalescer`` sends the
first at once (no added delay when a host is quiet) and everything asked for while it is in flight as one batch
after it, so a burst costs a few requests. Each caller still gets its own answer, or its own error. (Arming, where
the engine knows the whole group at once, goes in one request without it: ``RemoteCamera.arm_together``.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["Coalescer"]

Item = TypeVar("Item")
Answer = TypeVar("Answer")


class _Waiter(Generic[Item, Answer]):
    def __init__(self, item: Item) -> None:
        self.item = item
        self.done = False
        self.lead = False  # this caller sends the next batch
        self.answer: Answer | None = None
        self.error: BaseException | None = None


class Coalescer(Generic[Item, Answer]):
    """Calls ``send(batch)`` for one batch at a time; ``send`` answers every item in order, or raises one of
    ``errors`` (then every caller of that batch gets it; anything else reaches the caller that sent it, and its
    batch-mates get a RuntimeError)."""

    def __init__(self, send: Callable[[Sequence[Item]], Sequence[Answer]],
                 errors: tuple[type[Exception], ...], max_batch: int = 256) -> None:
        self._send = send
        self._errors = errors
        self._max_batch = max_batch
        self._lock = threading.Condition()
        self._queue: list[_Waiter[Item, Answer]] = []
        self._sending = False

    def submit(self, item: Item) -> Answer:
        """``item``'s answer, once the batch it went in is answered. Raises what ``send`` raised."""
        waiter: _Waiter[Item, Answer] = _Waiter(item)
        with self._lock:
            self._queue.append(waiter)
            if not self._sending:  # the first of a burst goes at once; what piles up behind it goes next
                waiter.lead = self._sending = True
            while not waiter.done and not waiter.lead:
                self._lock.wait()
        if waiter.lead:
            with self._lock:
                batch, self._queue = self._queue[:self._max_batch], self._queue[self._max_batch:]
            self._send_batch(batch)
        if waiter.error is not None:
            raise waiter.error
        return waiter.answer  # type: ignore[return-value]  # set with done (Answer may itself allow None)

    def _send_batch(self, batch: list[_Waiter[Item, Answer]]) -> None:
        answers: list[Answer] | None = None
        error: BaseException | None = None
        try:
            sent = list(self._send([w.item for w in batch]))
            if len(sent) == len(batch):
                answers = sent
            else:
                error = RuntimeError(f"{len(sent)} answers to a batch of {len(batch)}")
        except self._errors as exc:  # every caller of the batch sees it, as it would alone
            answers, error = None, exc
        finally:
            if answers is None and error is None:  # it raised: the others must not wait for ever
                error = RuntimeError("the request failed (see the error its sender raised)")
            self._answered(batch, answers, error)

    def _answered(self, batch: list[_Waiter[Item, Answer]], answers: list[Answer] | None,
                  error: BaseException | None) -> None:
        with self._lock:
            for k, waiter in enumerate(batch):
                waiter.done = True
                waiter.answer = answers[k] if answers is not None else None
                waiter.error = error
            # The next batch is sent by one of its own callers: nobody waits on another's requests.
            if self._queue:
                self._queue[0].lead = True
            else:
                self._sending = False
            self._lock.notify_all()
