"""Art-Net and sACN streaming together at 44 Hz for 20 s, with the receivers' rules checked throughout.

Bounded in time (20 s of streaming) and count; rates are checked with a loose margin, since the cadence
itself is measured by bench/lights.py, not asserted on a shared machine.
"""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from pathlib import Path

import pytest

from capturerig.config import LightOutputConfig, RigConfig
from capturerig.devices import DriverContext
from capturerig.devices.artnet import ArtNetOutput
from capturerig.devices.sacn import SacnOutput
from capturerig_sim.artnet_node import ArtNetNode
from capturerig_sim.sacn_receiver import SacnReceiver

STREAM_S = 20.0
RATE_HZ = 44.0
RIG = RigConfig.model_validate({
    "name": "stream-test",
    "cameras": [{"id": "cam0", "driver": "sim", "serial": "S0", "body": "sim-studio", "group": "g",
                 "intrinsics": {"width": 8, "height": 8, "fx": 1, "fy": 1, "cx": 4, "cy": 4},
                 "pose": {"position": [1, 0, 1]}}],
})


def _feed(outputs: list[ArtNetOutput | SacnOutput], stop: threading.Event) -> None:
    """Change universe 1 faster than the clock ticks, so every tick has a new frame; universe 2 stays put."""
    count = 0
    while not stop.is_set():
        count += 1
        frame = count.to_bytes(4, "big") * 128
        for output in outputs:
            output.set_universe(1, frame)
        stop.wait(0.005)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_both_transports_stream_44_hz_for_20_s_without_breaking_a_receiver_rule(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    context = DriverContext(RIG, Path("."))
    with ArtNetNode("127.0.0.1", 0, universes=(1, 2)) as node, SacnReceiver("127.0.0.1", 0) as receiver:
        artnet = ArtNetOutput(LightOutputConfig(id="artnet0", driver="artnet", universes=(1, 2),
                                                params={"port": node.port, "rate_hz": RATE_HZ}), context)
        sacn = SacnOutput(LightOutputConfig(id="sacn0", driver="sacn", universes=(1, 2),
                                            params={"port": receiver.port, "rate_hz": RATE_HZ}), context)
        artnet.open(1.0)
        sacn.open(1.0)
        stop = threading.Event()
        feeder = threading.Thread(target=_feed, args=([artnet, sacn], stop), daemon=True)
        started = time.perf_counter()
        feeder.start()
        try:
            time.sleep(STREAM_S)
        finally:
            stop.set()
            feeder.join(timeout=2.0)
            elapsed = time.perf_counter() - started
            artnet.close()
            sacn.close()
        deadline = time.monotonic() + 2.0
        while len(receiver.terminations) < 6 and time.monotonic() < deadline:
            time.sleep(0.01)

    expected = RATE_HZ * elapsed
    assert node.violations == []
    assert node.malformed == []
    artnet_frames = node.packets(1)
    assert 0.85 * expected < len(artnet_frames) < 1.05 * expected + 2
    sequences = [r.packet.sequence for r in artnet_frames]
    assert any(a == 255 and b == 1 for a, b in itertools.pairwise(sequences))  # wrapped, past 0
    keepalive = [r.received_at for r in node.packets(2)]  # unchanged universe: repeated every 2 s
    assert 8 <= len(keepalive) <= 13
    assert node.max_gap(2) < 4.0

    assert receiver.violations == []
    assert receiver.malformed == []
    sacn_frames = [r for r in receiver.packets(1) if not r.packet.stream_terminated]
    assert 0.85 * expected < len(sacn_frames) < 1.05 * expected + 2
    sacn_sequences = [r.packet.sequence for r in sacn_frames]
    assert any(a == 255 and b == 0 for a, b in itertools.pairwise(sacn_sequences))
    gaps = receiver.keepalive_gaps(sacn.cid, 2)  # unchanged universe: repeated every 0.8 s, never lost
    assert 0.7 < statistics.median(gaps) < 1.0
    assert max(gaps) < 2.5
    assert sorted(u for _, u, _ in receiver.terminations) == [1, 1, 1, 2, 2, 2]
