"""Bounded 44 Hz streams through each serial transport, checked frame by frame by its simulator."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from capturerig.config import LightOutputConfig
from capturerig.devices import DriverContext, create_light_output
from capturerig_sim._serial_pty import PtySimulator
from capturerig_sim.enttec_widget import EnttecWidgetSim
from capturerig_sim.opendmx_sim import OpenDmxSim
from capturerig_sim.serial_lights_sim import SerialLightsSim

STREAM_S = 10.0
RATE_HZ = 44.0
CHANGE_EVERY_S = 0.007  # new frames faster than the clock sends them: every sent frame must still be whole

TRANSPORTS: dict[str, tuple[Callable[[], PtySimulator], dict[str, Any], int]] = {
    # driver: (simulator, driver params, slots checked per frame)
    "enttec-pro": (lambda: EnttecWidgetSim("out0", universe=1), {}, 512),
    "opendmx": (lambda: OpenDmxSim("out0", universe=1), {"break_marker": True}, 512),
    "serial-lights": (lambda: SerialLightsSim("out0", channels=64), {}, 64),
}


def _frame(k: int) -> bytes:
    return bytes((k + i) % 256 for i in range(512))


def _whole(slots: bytes, count: int) -> bool:
    """A frame made by ``_frame``: every slot follows from the first (a torn frame mixes two)."""
    return len(slots) >= count and all(slots[i] == (slots[0] + i) % 256 for i in range(count))


@pytest.mark.slow
@pytest.mark.parametrize("driver", list(TRANSPORTS))
def test_a_44_hz_stream_arrives_whole_at_the_rate(driver: str, context: DriverContext) -> None:
    make_sim, params, checked = TRANSPORTS[driver]
    with make_sim() as sim:
        config = LightOutputConfig(id="out0", driver=driver, universes=(1,),
                                   params={"port": sim.path, "rate_hz": RATE_HZ, **params})
        output = create_light_output(config, context)
        output.open(2.0)
        stop = threading.Event()

        def change_frames() -> None:
            k = 0
            while not stop.wait(CHANGE_EVERY_S):
                k += 1
                output.set_universe(1, _frame(k))

        feeder = threading.Thread(target=change_frames, daemon=True)
        try:
            output.set_universe(1, _frame(0))
            output.wait_sent(2.0)
            first = len(sim.frames)
            started = time.perf_counter()
            feeder.start()
            time.sleep(STREAM_S)
            stop.set()
            feeder.join(2.0)
            elapsed = time.perf_counter() - started
            count = len(sim.frames) - first
        finally:
            stop.set()
            output.close()
    frames = list(sim.frames)[first:]  # (before: the blackout the clock sends from open on)
    torn = [f for f in frames if not _whole(f.slots, checked)]
    assert torn == [], f"{driver}: {len(torn)} torn frames, first {torn[0].slots[:16].hex(' ')}"
    assert sim.errors == []
    assert getattr(sim, "torn", 0) == 0
    assert len({f.slots[0] for f in frames}) >= min(100, len(frames) // 2)  # the frames really changed
    rate = count / elapsed
    # Loose bounds (a shared 2-core machine): never faster than the clock, not starved. bench/ has the figures.
    assert 0.4 * RATE_HZ <= rate <= 1.05 * RATE_HZ + 1, f"{driver}: {rate:.1f} frames/s at {RATE_HZ:g} Hz"
    if isinstance(sim, EnttecWidgetSim | SerialLightsSim):
        assert all(before == 0 for _, before in sim.queries)
