"""The per-output sender clock: steady rate, atomic frames, keep-alive, errors reported not swallowed."""

from __future__ import annotations

import time

import pytest

from capturerig.devices import DeviceTimeout, FrameClock


def test_each_new_frame_goes_out_whole_and_wait_sent_returns_once_it_has() -> None:
    wire: list[tuple[int, bytes]] = []
    clock = FrameClock("dmx0", [1, 2], lambda u, f: wire.append((u, f)), rate_hz=40, repeat_after_s=10)
    clock.start()
    try:
        frame = bytes([7] * 512)
        clock.set_frame(2, frame)
        clock.wait_sent(1.0)
        assert (2, frame) in wire
        assert all(len(f) == 512 for _, f in wire)
    finally:
        clock.stop(flush=False)


def test_unchanged_frames_repeat_only_after_the_keep_alive() -> None:
    wire: list[int] = []
    clock = FrameClock("artnet0", [1], lambda u, f: wire.append(u), rate_hz=40, repeat_after_s=0.2)
    clock.start()
    time.sleep(0.5)
    clock.stop(flush=False)
    assert 2 <= len(wire) <= 4  # first send, then one every 0.2 s; never at the 40 Hz tick rate


def test_serial_style_clock_refreshes_every_tick_at_the_rate() -> None:
    sent_at: list[float] = []  # perf_counter of each send
    clock = FrameClock("enttec0", [0], lambda u, f: sent_at.append(time.perf_counter()), rate_hz=40)
    clock.start()
    time.sleep(0.5)
    clock.stop(flush=False)
    # Never faster than the rate; the exact cadence is measured by bench/, not asserted on a shared machine.
    assert 5 <= len(sent_at) <= 22


def test_a_failing_wire_is_reported_by_wait_sent_with_the_device_and_cause() -> None:
    def broken(universe: int, frame: bytes) -> None:
        raise OSError("write failed: device unplugged")

    clock = FrameClock("enttec0", [0], broken, rate_hz=40)
    clock.start()
    try:
        clock.set_frame(0, bytes(512))
        with pytest.raises(DeviceTimeout, match=r"enttec0: .*device unplugged"):
            clock.wait_sent(0.2)
    finally:
        clock.stop(flush=False)


def test_bad_universe_rate_and_frame_size_are_refused() -> None:
    with pytest.raises(ValueError, match=r"outside 0\.\.44 Hz"):
        FrameClock("x", [1], lambda u, f: None, rate_hz=100)
    clock = FrameClock("x", [1], lambda u, f: None)
    with pytest.raises(ValueError, match="does not carry universe 3"):
        clock.set_frame(3, bytes(512))
    with pytest.raises(ValueError, match="512 levels, got 10"):
        clock.set_frame(1, bytes(10))
