"""Acknowledgements leave on their own thread, together, and one that fails is sent again, never dropped."""

from __future__ import annotations

import threading
import time

import pytest

from capturerig.devices import DeviceError
from capturerig.devices.remote._acks import Acknowledger


class FlakyHost:
    def __init__(self, failures: int = 0, delay_s: float = 0.0) -> None:
        self.failures = failures
        self.delay_s = delay_s
        self.received: list[list[str]] = []
        self.lock = threading.Lock()

    def send(self, ids: list[str]) -> None:
        time.sleep(self.delay_s)
        with self.lock:
            if self.failures:
                self.failures -= 1
                raise DeviceError("h1", "connection refused")
            self.received.append(list(ids))


def test_acknowledgements_asked_while_one_is_sent_go_together_and_flush_waits_for_all() -> None:
    host = FlakyHost(delay_s=0.05)
    acks = Acknowledger("h1", host.send)
    started = time.monotonic()
    for camera in range(16):
        acks.soon([f"file-{camera}"])
    assert time.monotonic() - started < 0.3  # nobody waited for the host (16 sends in turn: 0.8 s)
    assert acks.flush(5)
    assert sorted(f for batch in host.received for f in batch) == sorted(f"file-{c}" for c in range(16))
    assert len(host.received) <= 5  # together, not one request each (how many depends on the load)
    acks.close(1)


def test_an_acknowledgement_the_host_refused_is_sent_again_until_it_lands() -> None:
    host = FlakyHost(failures=2)
    acks = Acknowledger("h1", host.send)
    acks.soon(["a", "b"])
    assert acks.flush(5)
    assert host.received == [["a", "b"]]
    acks.close(1)


def test_closing_while_the_host_is_away_gives_up_in_its_time_and_says_the_files_stay_offered(
        caplog: pytest.LogCaptureFixture) -> None:
    host = FlakyHost(failures=10_000)
    acks = Acknowledger("h1", host.send)
    acks.soon(["a"])
    started = time.monotonic()
    acks.close(0.3)
    assert time.monotonic() - started < 1.5
    assert host.received == []
    assert "not sent (the agent offers those files again)" in caplog.text
