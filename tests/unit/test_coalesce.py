"""Requests to one host asked for while one is in flight go together in the next, each caller answered."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from capturerig.devices import DeviceError
from capturerig.devices.remote._coalesce import Coalescer


class SlowHost:
    """Answers each item doubled, taking ``delay_s`` per request; records the batches it was sent."""

    def __init__(self, delay_s: float = 0.05, fail_on: int | None = None) -> None:
        self.delay_s = delay_s
        self.fail_on = fail_on
        self.batches: list[list[int]] = []
        self._lock = threading.Lock()

    def send(self, items: Sequence[int]) -> list[int]:
        with self._lock:
            self.batches.append(list(items))
        time.sleep(self.delay_s)
        if self.fail_on is not None and self.fail_on in items:
            raise DeviceError("host1", f"refused item {self.fail_on}")
        return [2 * i for i in items]


def test_sixteen_cameras_asking_at_once_cost_two_requests_and_each_gets_its_own_answer() -> None:
    host = SlowHost()
    link: Coalescer[int, int] = Coalescer(host.send, (DeviceError,))
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(link.submit, range(16)))
    assert answers == [2 * i for i in range(16)]
    assert sorted(i for batch in host.batches for i in batch) == list(range(16))  # each sent once
    # The first alone, the rest together; threads a loaded machine starts late may make a few more.
    assert len(host.batches) <= 5


def test_a_quiet_host_gets_each_request_at_once_without_waiting_for_company() -> None:
    host = SlowHost(delay_s=0.0)
    link: Coalescer[int, int] = Coalescer(host.send, (DeviceError,))
    assert [link.submit(i) for i in range(3)] == [0, 2, 4]
    assert host.batches == [[0], [1], [2]]


def test_a_failed_request_fails_every_caller_in_it_and_the_next_batch_still_goes() -> None:
    host = SlowHost(fail_on=5)
    link: Coalescer[int, int] = Coalescer(host.send, (DeviceError,))
    first = threading.Thread(target=link.submit, args=(0,))
    first.start()
    time.sleep(0.01)  # 0 is in flight: 5 and 6 go together next
    results: dict[int, object] = {}

    def ask(item: int) -> None:
        try:
            results[item] = link.submit(item)
        except DeviceError as exc:
            results[item] = str(exc)

    askers = [threading.Thread(target=ask, args=(i,)) for i in (5, 6)]
    for thread in askers:
        thread.start()
    for thread in [first, *askers]:
        thread.join(timeout=5)
    assert results == {5: "host1: refused item 5", 6: "host1: refused item 5"}
    assert link.submit(7) == 14  # the link goes on


def test_a_bug_in_the_sender_reaches_its_caller_and_frees_the_others() -> None:
    def broken(items: Sequence[int]) -> list[int]:
        raise KeyError("bug")

    link: Coalescer[int, int] = Coalescer(broken, (DeviceError,))
    with pytest.raises(KeyError):
        link.submit(1)
    with pytest.raises(KeyError):  # the coalescer is not stuck "sending"
        link.submit(2)

