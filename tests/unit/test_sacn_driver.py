"""The sACN driver over UDP loopback against the simulated receiver, and the receiver's E1.31 rules."""

from __future__ import annotations

import itertools
import socket
import statistics
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from capturerig.config import LightOutputConfig, RigConfig
from capturerig.devices import DeviceError, DriverContext, create_light_output
from capturerig.devices._sacn_packets import build_e131_data
from capturerig.devices.sacn import SacnOutput, install_cid, install_cid_path
from capturerig_sim.sacn_receiver import SacnReceiver

RIG = RigConfig.model_validate({
    "name": "sacn-test",
    "cameras": [{"id": "cam0", "driver": "sim", "serial": "S0", "body": "sim-studio", "group": "g",
                 "intrinsics": {"width": 8, "height": 8, "fx": 1, "fy": 1, "cx": 4, "cy": 4},
                 "pose": {"position": [1, 0, 1]}}],
})
CID_A = uuid.UUID(int=0xA).bytes
CID_B = uuid.UUID(int=0xB).bytes


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep the install's CID file out of the real home."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config"


@pytest.fixture
def receiver() -> Iterator[SacnReceiver]:
    with SacnReceiver("127.0.0.1", 0) as running:
        yield running


def _output(receiver: SacnReceiver, universes: tuple[int, ...] = (1,), output_id: str = "sacn0",
            **params: Any) -> SacnOutput:
    config = LightOutputConfig(id=output_id, driver="sacn", universes=universes,
                               params={"host": receiver.host, "port": receiver.port, **params})
    output = create_light_output(config, DriverContext(RIG, Path(".")))
    assert isinstance(output, SacnOutput)
    return output


def _frame(level: int) -> bytes:
    return bytes([level]) * 512


def _wait(condition: Any, timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)


def test_a_frame_reaches_the_receiver_with_our_name_priority_and_install_cid(receiver: SacnReceiver,
                                                                              config_home: Path) -> None:
    output = _output(receiver)
    output.open(1.0)
    try:
        output.set_universe(1, _frame(77))
        output.wait_sent(2.0)
        _wait(lambda: receiver.frame(1) == _frame(77))
    finally:
        output.close()
    packet = receiver.packets(1)[0].packet
    assert receiver.frame(1) == _frame(77)
    assert packet.source_name == "capturerig sacn0"
    assert packet.priority == 100
    assert packet.cid == uuid.UUID((config_home / "capturerig" / "sacn-cid").read_text().strip()).bytes
    assert receiver.violations == []


def test_the_cid_is_made_once_per_install_and_kept() -> None:
    first = install_cid()
    assert install_cid_path().read_text().strip() == str(first)
    assert install_cid() == first
    config = LightOutputConfig(id="sacn0", driver="sacn", universes=(1,))
    assert SacnOutput(config, DriverContext(RIG, Path("."))).cid == first.bytes
    explicit = LightOutputConfig(id="sacn0", driver="sacn", universes=(1,), params={"cid": str(uuid.UUID(int=5))})
    assert SacnOutput(explicit, DriverContext(RIG, Path("."))).cid == uuid.UUID(int=5).bytes


def test_a_corrupt_cid_file_is_named_in_the_error() -> None:
    path = install_cid_path()
    path.parent.mkdir(parents=True)
    path.write_text("not-a-uuid\n")
    config = LightOutputConfig(id="sacn0", driver="sacn", universes=(1,))
    with pytest.raises(DeviceError, match=rf"sacn0: bad sACN CID: {path}: 'not-a-uuid' is not a UUID"):
        SacnOutput(config, DriverContext(RIG, Path(".")))


def test_sequence_numbers_increase_by_one_per_universe_and_wrap(receiver: SacnReceiver) -> None:
    output = _output(receiver, universes=(1, 2), keepalive_s=0.0)
    output._clock.spec["start_sequence"] = {"2": 250}  # start universe 2 near the wrap so this test stays short
    output.open(1.0)
    try:
        receiver.wait_for(12, 5.0, universe=2)
    finally:
        output.close()
    one = [r.packet.sequence for r in receiver.packets(1)]
    two = [r.packet.sequence for r in receiver.packets(2)]
    assert one[:4] == [0, 1, 2, 3]
    assert two[:8] == [250, 251, 252, 253, 254, 255, 0, 1]
    assert all((b - a) % 256 == 1 for seq in (one, two) for a, b in itertools.pairwise(seq))
    assert receiver.violations == []


def test_close_sends_three_stream_terminated_packets_and_the_source_is_dropped(receiver: SacnReceiver) -> None:
    output = _output(receiver, universes=(1, 2))
    output.open(1.0)
    output.set_universe(1, _frame(40))
    output.wait_sent(2.0)
    _wait(lambda: len(receiver.active_sources(1)) == 1)
    output.close()
    _wait(lambda: len(receiver.terminations) >= 6)
    by_universe = {u: [t for t in receiver.terminations if t[1] == u] for u in (1, 2)}
    assert [len(v) for v in by_universe.values()] == [3, 3]
    assert receiver.active_sources(1) == {}
    assert receiver.frame(1) == _frame(40)  # no source left: the receiver holds the last look
    assert receiver.violations == []  # a terminated stream is not a lost one
    assert receiver.lost == []


def test_unchanged_frames_are_kept_alive_under_one_second(receiver: SacnReceiver) -> None:
    output = _output(receiver, keepalive_s=0.3)
    output.open(1.0)
    try:
        time.sleep(1.5)
    finally:
        output.close()
    gaps = receiver.keepalive_gaps(output.cid, 1)
    assert 3 <= len(gaps) <= 7  # one packet every 0.3 s, never 44 per second
    assert 0.25 < statistics.median(gaps) < 0.6


def test_default_keep_alive_is_0_8_s() -> None:
    config = LightOutputConfig(id="sacn0", driver="sacn", universes=(1,))
    assert SacnOutput(config, DriverContext(RIG, Path("."))).keepalive_s == 0.8


def test_the_higher_priority_source_wins_and_equal_priorities_merge_highest(receiver: SacnReceiver) -> None:
    low = _output(receiver, output_id="low", priority=50, cid=str(uuid.UUID(bytes=CID_A)))
    high = _output(receiver, output_id="high", priority=120, cid=str(uuid.UUID(bytes=CID_B)))
    low.open(1.0)
    high.open(1.0)
    try:
        low.set_universe(1, _frame(200))
        high.set_universe(1, _frame(10))
        low.wait_sent(2.0)
        high.wait_sent(2.0)
        _wait(lambda: len(receiver.active_sources(1)) == 2 and receiver.frame(1) == _frame(10))
        assert receiver.frame(1) == _frame(10)
    finally:
        high.close()
    _wait(lambda: receiver.frame(1) == _frame(200))  # the high source terminated: the low one takes over
    low.close()
    assert receiver.frame(1) == _frame(200)


def test_receiver_discards_packets_up_to_20_behind_and_accepts_a_new_run() -> None:
    with SacnReceiver("127.0.0.1", 0) as receiver, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        def send(sequence: int, level: int, **flags: Any) -> None:
            packet = build_e131_data(CID_A, "test", 1, _frame(level), sequence, **flags)
            sender.sendto(packet, (receiver.host, receiver.port))

        for sequence, level in ((10, 1), (11, 2), (11, 3), (0, 4), (200, 5), (201, 6)):
            send(sequence, level)
        receiver.wait_for(6, 2.0)
        accepted = [(r.packet.sequence, r.accepted) for r in receiver.packets()]
        # 11 again: 0 behind, discarded; 0 after 11: 11 behind, discarded; 200 after 11: 67 behind, a new run.
        assert accepted == [(10, True), (11, True), (11, False), (0, False), (200, True), (201, True)]
        assert receiver.frame(1) == _frame(6)
        assert receiver.violations == ["universe 1: sequence 11 after 11 from 'test' (discarded)",
                                       "universe 1: sequence 0 after 11 from 'test' (discarded)"]
        send(202, 9, preview=True)  # preview data never drives fixtures
        send(203, 8, stream_terminated=True)  # a terminate packet's levels are ignored
        receiver.wait_for(8, 2.0)
        assert receiver.frame(1) == _frame(6)
        assert receiver.active_sources(1) == {}


def test_a_silent_source_is_lost_after_2_5_s_and_that_is_a_violation(receiver: SacnReceiver) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.sendto(build_e131_data(CID_A, "quiet desk", 3, _frame(5), 0), (receiver.host, receiver.port))
        receiver.wait_for(1, 2.0)
    received_at = receiver.packets(3)[0].received_at
    receiver.check_sources(now=received_at + 2.4)
    assert receiver.active_sources(3) == {CID_A: "quiet desk"}
    receiver.check_sources(now=received_at + 2.6)
    assert receiver.active_sources(3) == {}
    assert receiver.lost == [(CID_A, 3)]
    assert receiver.violations == ["universe 3: source 'quiet desk' lost (2.60 s without a packet)"]


def test_multicast_reaches_a_receiver_joined_on_loopback() -> None:
    with SacnReceiver("239.255.0.9", 0, multicast_universes=(9,), multicast_interface="127.0.0.1") as receiver:
        config = LightOutputConfig(id="sacn0", driver="sacn", universes=(9,),
                                   params={"multicast": True, "multicast_interface": "127.0.0.1",
                                           "port": receiver.port, "multicast_ttl": 1})
        output = SacnOutput(config, DriverContext(RIG, Path(".")))
        output.open(1.0)
        try:
            output.set_universe(9, _frame(33))
            output.wait_sent(2.0)
            _wait(lambda: receiver.frame(9) == _frame(33))
        finally:
            output.close()
        assert receiver.frame(9) == _frame(33)


@pytest.mark.parametrize(("universes", "params", "message"), [
    ((0,), {}, r"sACN universes are 1\.\.63999, got 0"),
    ((1,), {"priority": 201}, r"params.priority: input should be less than or equal to 200 \(got 201\)"),
    ((1,), {"keepalive_s": 1.5}, r"params.keepalive_s: input should be less than or equal to 1 \(got 1.5\)"),
    ((1,), {"cid": "1234"}, "params.cid: '1234' is not a UUID"),
    ((1,), {"source_name": "x" * 64}, "params.source_name: .* is over 63 UTF-8 bytes"),
    ((1,), {"multicast": 1}, "params.multicast: should be true or false, got 1"),
])
def test_bad_config_names_the_output_and_the_field(universes: tuple[int, ...], params: dict[str, Any],
                                                  message: str) -> None:
    config = LightOutputConfig(id="sacn0", driver="sacn", universes=universes, params=params)
    with pytest.raises(DeviceError, match=f"sacn0: {message}"):
        SacnOutput(config, DriverContext(RIG, Path(".")))
