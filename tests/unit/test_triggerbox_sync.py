"""Software trigger behind a barrier, and the sync statistics behind ``capturerig trigger test``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from capturerig.devices import DeviceError
from capturerig.engine import dispatch_together, sync_statistics


def _recorder(calls: dict[str, float], camera_id: str) -> Callable[[], None]:
    def call() -> None:
        calls[camera_id] = time.perf_counter()
    return call


def test_every_camera_is_triggered_once_and_the_spread_is_measured() -> None:
    seen: dict[str, float] = {}
    cameras = [f"cam{i:02d}" for i in range(16)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        result = dispatch_together({c: _recorder(seen, c) for c in cameras}, pool, timeout_s=5.0)
    assert set(seen) == set(result.started) == set(cameras)
    assert result.errors == {}
    assert result.spread_s == max(result.started.values()) - min(result.started.values())
    offsets = result.offsets()
    assert min(offsets.values()) == 0.0
    assert all(result.started[c] <= seen[c] for c in cameras)  # stamped as each call began


def test_no_camera_is_triggered_before_every_thread_is_at_the_barrier() -> None:
    seen: dict[str, float] = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        blocker_done: list[float] = []
        pool.submit(lambda: (time.sleep(0.3), blocker_done.append(time.perf_counter())))  # holds one thread
        result = dispatch_together({"a": _recorder(seen, "a"), "b": _recorder(seen, "b")}, pool, timeout_s=5.0)
    assert result.errors == {}
    # "a" had a thread at once but waited at the barrier until "b" got the busy thread back
    assert min(seen.values()) >= blocker_done[0]


def test_a_failing_camera_does_not_stop_the_others() -> None:
    seen: dict[str, float] = {}

    def busy() -> None:
        raise DeviceError("cam01", "camera busy, cannot capture", "wait a moment and retry")

    with ThreadPoolExecutor(max_workers=3) as pool:
        result = dispatch_together({"cam00": _recorder(seen, "cam00"), "cam01": busy,
                                    "cam02": _recorder(seen, "cam02")}, pool, timeout_s=5.0)
    assert set(seen) == {"cam00", "cam02"}
    assert result.errors == {"cam01": "cam01: camera busy, cannot capture (wait a moment and retry)"}


def test_too_few_threads_is_reported_not_hung() -> None:
    seen: dict[str, float] = {}
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        result = dispatch_together({c: _recorder(seen, c) for c in ("a", "b", "c")}, pool, timeout_s=0.2)
    assert time.monotonic() - started < 5.0
    assert seen == {}
    assert set(result.errors) == {"a", "b", "c"}
    assert all("could not be released together within 0.2 s" in e for e in result.errors.values())


def test_a_hung_call_is_reported_after_the_timeout() -> None:
    gate = threading.Event()
    with ThreadPoolExecutor(max_workers=2) as pool:
        result = dispatch_together({"ok": lambda: None, "hung": lambda: (gate.wait(3.0), None)[1]}, pool,
                                   timeout_s=0.2)
        gate.set()
    assert result.errors == {"hung": "trigger_capture did not return within 0.2 s"}


def test_sync_statistics_suggest_delays_that_equalise_latencies() -> None:
    fires = [{"cam00": 0.040, "cam01": 0.043, "cam02": 0.038},
             {"cam00": 0.042, "cam01": 0.043, "cam02": 0.038},
             {"cam00": 0.041, "cam01": 0.043}]
    report = sync_statistics(fires, ["cam00", "cam01", "cam02", "cam03"])
    assert report.mean_latency_s == pytest.approx({"cam00": 0.041, "cam01": 0.043, "cam02": 0.038})
    assert report.suggested_delays_us == {"cam00": 2000, "cam01": 0, "cam02": 5000}
    assert report.spread_p50_s == pytest.approx(0.005)
    assert report.spread_p99_s == pytest.approx(0.005)
    assert report.missing == {"cam00": 0, "cam01": 0, "cam02": 1, "cam03": 3}
    assert report.fires == 3
    assert report.jitter_s["cam01"] == pytest.approx(0.0)
    # with the suggested delays applied, the latencies line up
    shifted = [{c: t + report.suggested_delays_us[c] / 1e6 for c, t in fire.items()} for fire in fires]
    assert sync_statistics(shifted).spread_p50_s < 0.0015
