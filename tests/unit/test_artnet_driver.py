"""The Art-Net driver over UDP loopback against the simulated node: what a node on the network receives."""

from __future__ import annotations

import itertools
import os
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from capturerig.config import LightOutputConfig, RigConfig
from capturerig.devices import DeviceError, DriverContext, create_light_output
from capturerig.devices._artnet_packets import build_artdmx, build_artsync
from capturerig.devices.artnet import ArtNetOutput, discover_artnet_nodes
from capturerig_sim.artnet_node import ArtNetNode

RIG = RigConfig.model_validate({
    "name": "artnet-test",
    "cameras": [{"id": "cam0", "driver": "sim", "serial": "S0", "body": "sim-studio", "group": "g",
                 "intrinsics": {"width": 8, "height": 8, "fx": 1, "fy": 1, "cx": 4, "cy": 4},
                 "pose": {"position": [1, 0, 1]}}],
})


def _output(node: ArtNetNode, universes: tuple[int, ...] = (1,), **params: Any) -> ArtNetOutput:
    config = LightOutputConfig(id="artnet0", driver="artnet", universes=universes,
                               params={"host": node.host, "port": node.port, **params})
    output = create_light_output(config, DriverContext(RIG, Path(".")))
    assert isinstance(output, ArtNetOutput)
    return output


@pytest.fixture
def node() -> Iterator[ArtNetNode]:
    with ArtNetNode("127.0.0.1", 0, universes=(1, 2)) as running:
        yield running


def _frame(level: int) -> bytes:
    return bytes([level]) * 512


def test_a_frame_reaches_the_node_whole_as_artdmx(node: ArtNetNode) -> None:
    output = _output(node)
    output.open(1.0)
    try:
        levels = bytes(range(256)) * 2
        output.set_universe(1, levels)
        output.wait_sent(2.0)
        deadline = time.monotonic() + 2.0
        while node.frame(1) != levels and time.monotonic() < deadline:
            time.sleep(0.005)
        assert node.frame(1) == levels
        received = node.packets(1)
        assert received[-1].packet.data == levels
        assert received[-1].packet.protocol_version == 14
    finally:
        output.close()
    assert node.violations == []
    assert node.malformed == []


def test_each_universe_has_its_own_sequence_counting_from_1(node: ArtNetNode) -> None:
    output = _output(node, universes=(1, 2), keepalive_s=0.0)  # 0: refresh every tick
    output.open(1.0)
    try:
        node.wait_for(20, 5.0, universe=2)
    finally:
        output.close()
    for universe in (1, 2):
        sequences = [r.packet.sequence for r in node.packets(universe)]
        assert sequences[:5] == [1, 2, 3, 4, 5]
        assert all(b == a % 255 + 1 for a, b in itertools.pairwise(sequences))
    assert node.violations == []


def test_unchanged_frames_are_repeated_at_the_keep_alive_not_at_the_tick_rate(node: ArtNetNode) -> None:
    output = _output(node, keepalive_s=0.25)
    output.open(1.0)
    try:
        time.sleep(1.4)
    finally:
        output.close()
    times = [r.received_at for r in node.packets(1)]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert 4 <= len(times) <= 8  # first frame, a repeat every 0.25 s, the flush on close; never 44 per second
    assert 0.2 < statistics.median(gaps[:-1]) < 0.5
    assert node.max_gap(1) < 4.0
    assert node.violations == []


def test_close_flushes_the_last_frame_so_the_engines_blackout_is_on_the_wire(node: ArtNetNode) -> None:
    output = _output(node, keepalive_s=4.0)
    output.open(1.0)
    output.set_universe(1, _frame(200))
    output.wait_sent(2.0)
    output.set_universe(1, _frame(0))  # the engine's blackout, not waited for
    output.close()
    def lit_then_dark() -> bool:
        levels = [r.packet.data for r in node.packets(1)]
        return _frame(200) in levels and levels[-1] == _frame(0) and levels.index(_frame(200)) < len(levels) - 1

    deadline = time.monotonic() + 2.0
    while not lit_then_dark() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert lit_then_dark()  # the blackout handed over just before close() went out after the lit frame
    assert node.frame(1) == _frame(0)


def test_artsync_follows_each_tick_and_the_node_outputs_both_universes_together(node: ArtNetNode) -> None:
    output = _output(node, universes=(1, 2), sync=True)
    output.open(1.0)
    try:
        output.set_universe(1, _frame(10))
        output.set_universe(2, _frame(20))
        output.wait_sent(2.0)
        deadline = time.monotonic() + 2.0
        while len(node.syncs) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        output.set_universe(1, _frame(11))
        output.set_universe(2, _frame(21))
        output.wait_sent(2.0)
        deadline = time.monotonic() + 2.0
        # Both: a tick may carry universe 1's old frame with universe 2's new one (the second set_universe
        # landed between the tick's two reads), and the tick wait_sent waited for is then the node's next.
        while (node.frame(1), node.frame(2)) != (_frame(11), _frame(21)) and time.monotonic() < deadline:
            time.sleep(0.005)
    finally:
        output.close()
    assert node.frame(1) == _frame(11)
    assert node.frame(2) == _frame(21)
    dmx_times = [r.received_at for r in node.packets()]
    first_sync = node.syncs[0]
    assert any(t < first_sync for t in dmx_times)  # ArtDmx of the tick first, then its ArtSync
    assert node.violations == []


def test_a_synchronous_node_holds_artdmx_until_the_next_artsync(node: ArtNetNode) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.sendto(build_artsync(), (node.host, node.port))
        node_deadline = time.monotonic() + 2.0
        while not node.syncs and time.monotonic() < node_deadline:
            time.sleep(0.005)
        sender.sendto(build_artdmx(1, _frame(99), 1), (node.host, node.port))
        node.wait_for(1, 2.0, universe=1)
        assert node.frame(1) == _frame(0)  # buffered: synchronous mode
        sender.sendto(build_artsync(), (node.host, node.port))
        deadline = time.monotonic() + 2.0
        while node.frame(1) != _frame(99) and time.monotonic() < deadline:
            time.sleep(0.005)
    assert node.frame(1) == _frame(99)


def test_the_node_reports_out_of_order_sequences_and_odd_lengths(node: ArtNetNode) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for sequence in (1, 2, 4):
            sender.sendto(build_artdmx(1, _frame(1), sequence), (node.host, node.port))
        odd = bytearray(build_artdmx(2, bytes(4), 1))
        odd[17] = 3  # Length 3: odd
        sender.sendto(bytes(odd[:21]), (node.host, node.port))
        sender.sendto(b"Art-Net\x00garbage", (node.host, node.port))
        node.wait_for(4, 2.0)
        deadline = time.monotonic() + 2.0
        while not node.malformed and time.monotonic() < deadline:
            time.sleep(0.005)
    assert node.violations == ["universe 1: sequence 4 after 2", "universe 2: Length 3 is not even and 2..512"]
    assert "unsupported Art-Net OpCode" in node.malformed[0]


def test_discovery_finds_the_node_and_its_output_universes(node: ArtNetNode) -> None:
    found = discover_artnet_nodes(bind_host="127.0.0.1", timeout_s=0.5, broadcast_to=node.host, port=node.port)
    assert len(found) == 1
    assert found[0].address == (node.host, node.port)
    assert found[0].reply.short_name == "capturerig-sim"
    assert found[0].reply.output_universes == (1, 2)
    assert node.polls_answered == 1


def test_discovery_with_no_node_returns_nothing_after_the_timeout() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # a port that swallows the poll and never answers
        started = time.monotonic()
        assert discover_artnet_nodes("127.0.0.1", 0.3, "127.0.0.1", silent.getsockname()[1]) == []
        assert time.monotonic() - started < 2.0


def test_wait_sent_before_open_says_so(node: ArtNetNode) -> None:
    output = _output(node)
    output.set_universe(1, _frame(5))
    with pytest.raises(DeviceError, match="artnet0: the sender is not running"):
        output.wait_sent(0.2)
    output.close()


@pytest.mark.parametrize(("params", "message"), [
    ({"host": "node.local"}, "params.host: 'node.local' is not an IPv4 address"),
    ({"port": 70000}, r"params.port: input should be less than or equal to 65535 \(got 70000\)"),
    ({"port": "6454"}, "params.port: should be a whole number, got '6454'"),
    ({"rate_hz": 60}, r"params.rate_hz: input should be less than or equal to 44 \(got 60\)"),
    ({"keepalive_s": 5}, r"params.keepalive_s: input should be less than or equal to 4 \(got 5\)"),
    ({"sync": "yes"}, "params.sync: should be true or false, got 'yes'"),
    ({"realtime_priority": 100}, r"params.realtime_priority: input should be less than or equal to 99 \(got 100\)"),
    ({"universe": 1}, "params.universe: is not a known field; allowed here: host, port"),
])
def test_bad_params_name_the_output_and_the_field(params: dict[str, Any], message: str) -> None:
    config = LightOutputConfig(id="artnet0", driver="artnet", universes=(1,), params=params)
    with pytest.raises(DeviceError, match=f"artnet0: {message}"):
        ArtNetOutput(config, DriverContext(RIG, Path(".")))


def test_a_universe_the_output_does_not_carry_is_refused(node: ArtNetNode) -> None:
    output = _output(node)
    with pytest.raises(ValueError, match="does not carry universe 7"):
        output.set_universe(7, _frame(1))


def test_an_unreachable_node_does_not_block_the_sender() -> None:
    # Nothing listens on this port: UDP gives no error, frames still leave on time (as on a real network).
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = LightOutputConfig(id="artnet0", driver="artnet", universes=(1,), params={"port": port})
    output = ArtNetOutput(config, DriverContext(RIG, Path(".")))
    output.open(1.0)
    try:
        output.set_universe(1, _frame(3))
        output.wait_sent(2.0)
    finally:
        output.close()


def _may_use_realtime() -> bool:
    probe_ok: list[bool] = []

    def probe() -> None:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
            probe_ok.append(True)
        except OSError:
            probe_ok.append(False)

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return probe_ok[0]


def test_realtime_priority_puts_the_sender_process_under_sched_fifo_or_says_why_not(
        node: ArtNetNode, caplog: pytest.LogCaptureFixture) -> None:
    output = _output(node, realtime_priority=5)
    output.open(1.0)
    try:
        output.set_universe(1, _frame(8))
        output.wait_sent(2.0)
        assert output.sender_pid is not None
        assert output.sender_pid != os.getpid()
        policy = os.sched_getscheduler(output.sender_pid)
        priority = os.sched_getparam(output.sender_pid).sched_priority
    finally:
        output.close()
    if _may_use_realtime():
        assert (policy, priority) == (os.SCHED_FIFO, 5)
    else:
        assert "stays at normal priority" in caplog.text
    assert any(r.packet.data == _frame(8) for r in node.wait_for(2, 2.0, universe=1))  # and it still sends
