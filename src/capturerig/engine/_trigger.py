"""Software trigger behind a barrier, and the sync statistics of a rig's cameras.

Without a trigger box every camera's ``trigger_capture`` call is a software trigger, and the spread between
the first and the last call is a floor under the spread of the exposures. :func:`dispatch_together` runs one
pool thread per camera, holds them at a :class:`threading.Barrier` and releases them together, stamping
when each call *began*. :func:`sync_statistics` turns per-fire latencies (flash-sync timestamps of a trigger
box, or the capture times cameras report) into per-camera means, the spread between cameras, and the
per-output delays that equalise them.
"""

from __future__ import annotations

import functools
import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import cast

from capturerig.devices import Camera, DeviceError, PreparedTrigger

__all__ = ["DispatchResult", "SyncReport", "dispatch_prepared", "dispatch_together", "percentile", "software_trigger",
           "sync_statistics"]


@dataclass(frozen=True)
class DispatchResult:
    """How one software trigger went: when each call began (``time.perf_counter()``) and what failed."""

    started: Mapping[str, float]
    errors: Mapping[str, str]

    @property
    def spread_s(self) -> float:
        """Seconds between the first and the last call beginning (0 for fewer than two cameras)."""
        return max(self.started.values()) - min(self.started.values()) if len(self.started) > 1 else 0.0

    def offsets(self) -> dict[str, float]:
        """Per camera: seconds after the first call began."""
        first = min(self.started.values(), default=0.0)
        return {camera_id: at - first for camera_id, at in self.started.items()}


def dispatch_together(calls: Mapping[str, Callable[[], None]], pool: Executor, timeout_s: float) -> DispatchResult:
    """Run every call in its own pool thread, all released by one barrier; wait up to ``timeout_s``.

    ``pool`` must have an idle thread per call (the runner's device pool has one per camera): a call whose
    thread does not reach the barrier in time is not made, and reported in ``errors`` with the others that
    raised DeviceError or did not return within ``timeout_s``.
    """
    if not calls:
        return DispatchResult({}, {})
    barrier = threading.Barrier(len(calls))
    started: dict[str, float] = {}
    lock = threading.Lock()

    def run(camera_id: str, call: Callable[[], None]) -> None:
        barrier.wait(timeout_s)
        at = time.perf_counter()  # stamped before the lock: taking it would add to the spread we measure
        try:
            call()
        finally:
            with lock:
                started[camera_id] = at

    futures: dict[str, Future[None]] = {camera_id: pool.submit(run, camera_id, call)
                                        for camera_id, call in calls.items()}
    deadline = time.monotonic() + 2 * timeout_s  # the barrier's wait, then the call's own
    errors: dict[str, str] = {}
    for camera_id, future in futures.items():
        try:
            future.result(timeout=max(0.0, deadline - time.monotonic()))
        except threading.BrokenBarrierError:
            errors[camera_id] = (f"not triggered: the cameras could not be released together within {timeout_s:g} s "
                                 "(no free worker thread)")
        except FutureTimeout:
            errors[camera_id] = f"trigger_capture did not return within {timeout_s:g} s"
        except DeviceError as exc:
            errors[camera_id] = str(exc)
    with lock:
        return DispatchResult(dict(started), errors)


def dispatch_prepared(preparers: Mapping[str, Callable[[], Callable[[], None]]], pool: Executor,
                      timeout_s: float) -> DispatchResult:
    """Prepare every camera in parallel, then fire them back to back from this one thread.

    Each preparer does the slow part (worker round trip, checks) and returns an instant fire call; the fire
    calls run in a tight loop, stamped as each begins, so the spread is the cost of the calls themselves
    (microseconds each) rather than waking one thread per camera. A camera whose prepare or fire fails is
    reported in ``errors`` and the others still fire.
    """
    futures = {camera_id: pool.submit(prepare) for camera_id, prepare in preparers.items()}
    deadline = time.monotonic() + timeout_s
    ready: dict[str, Callable[[], None]] = {}
    errors: dict[str, str] = {}
    for camera_id, future in futures.items():
        try:
            ready[camera_id] = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            errors[camera_id] = f"not ready to trigger within {timeout_s:g} s"
        except DeviceError as exc:
            errors[camera_id] = str(exc)
    started: dict[str, float] = {}
    for camera_id, fire in ready.items():
        started[camera_id] = time.perf_counter()
        try:
            fire()
        except DeviceError as exc:
            errors[camera_id] = str(exc)
            del started[camera_id]
    return DispatchResult(started, errors)


def software_trigger(cameras: Mapping[str, Camera], pool: Executor, timeout_s: float) -> DispatchResult:
    """Fire ``cameras`` by software: the one-thread fast path when every driver can prepare, else the barrier."""
    if all(isinstance(camera, PreparedTrigger) for camera in cameras.values()):
        preparers = {camera_id: functools.partial(cast(PreparedTrigger, camera).prepare_trigger, timeout_s)
                     for camera_id, camera in cameras.items()}
        return dispatch_prepared(preparers, pool, timeout_s)
    calls = {camera_id: functools.partial(camera.trigger_capture, timeout_s) for camera_id, camera in cameras.items()}
    return dispatch_together(calls, pool, timeout_s)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class SyncReport:
    """Sync statistics of several fires.

    Attributes
    ----------
    mean_latency_s, jitter_s
        Per camera: mean latency from the trigger to its exposure, and that latency's standard deviation.
    spread_p50_s, spread_p99_s
        Per fire, the spread is the latest minus the earliest camera; these are its median and 99th percentile.
    suggested_delays_us
        Per camera: the delay that equalises the mean latencies (``max latency - latency``, microseconds).
    fires
        How many fires the statistics cover; ``missing`` counts, per camera, fires it did not report.
    """

    mean_latency_s: Mapping[str, float]
    jitter_s: Mapping[str, float]
    spread_p50_s: float
    spread_p99_s: float
    suggested_delays_us: Mapping[str, int]
    fires: int
    missing: Mapping[str, int]


def sync_statistics(fires: Sequence[Mapping[str, float]], camera_ids: Sequence[str] | None = None) -> SyncReport:
    """Statistics of per-fire latencies (camera id -> seconds from the trigger to the exposure).

    ``camera_ids`` lists the cameras expected in every fire (default: every camera seen); a camera absent
    from a fire counts in ``missing``, and one that never reported gets no mean and no suggested delay.
    """
    expected = list(camera_ids) if camera_ids is not None else sorted({c for fire in fires for c in fire})
    samples: dict[str, list[float]] = {camera_id: [] for camera_id in expected}
    spreads = []
    for fire in fires:
        present = [fire[c] for c in expected if c in fire]
        for camera_id in expected:
            if camera_id in fire:
                samples[camera_id].append(fire[camera_id])
        if len(present) > 1:
            spreads.append(max(present) - min(present))
    means = {c: statistics.fmean(v) for c, v in samples.items() if v}
    jitter = {c: statistics.pstdev(v) for c, v in samples.items() if v}
    latest = max(means.values(), default=0.0)
    delays = {c: round((latest - mean) * 1e6) for c, mean in means.items()}
    return SyncReport(mean_latency_s=means, jitter_s=jitter, spread_p50_s=percentile(spreads, 50),
                      spread_p99_s=percentile(spreads, 99), suggested_delays_us=delays, fires=len(fires),
                      missing={c: len(fires) - len(v) for c, v in samples.items()})
