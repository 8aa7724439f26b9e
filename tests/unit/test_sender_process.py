"""The DMX sender process: whole frames only, errors and death reported, no sender outliving its controller."""

from __future__ import annotations

import mmap
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from capturerig.config import LightOutputConfig, RigConfig
from capturerig.devices import DeviceError, DeviceTimeout, DriverContext
from capturerig.devices._sender_child import FRAME_OFFSET, SLOT_SIZE, read_slot
from capturerig.devices._sender_process import ProcessFrameClock, _write_slot
from capturerig.devices.artnet import ArtNetOutput
from capturerig.devices.sacn import SacnOutput
from capturerig_sim.artnet_node import ArtNetNode
from capturerig_sim.sacn_receiver import SacnReceiver

RIG = RigConfig.model_validate({
    "name": "sender-test",
    "cameras": [{"id": "cam0", "driver": "sim", "serial": "S0", "body": "sim-studio", "group": "g",
                 "intrinsics": {"width": 8, "height": 8, "fx": 1, "fy": 1, "cx": 4, "cy": 4},
                 "pose": {"position": [1, 0, 1]}}],
})


@pytest.fixture
def node() -> Iterator[ArtNetNode]:
    with ArtNetNode("127.0.0.1", 0, universes=(1, 2)) as running:
        yield running


def _artnet(node: ArtNetNode, **params: object) -> ArtNetOutput:
    config = LightOutputConfig(id="artnet0", driver="artnet", universes=(1, 2),
                               params={"host": node.host, "port": node.port, **params})
    return ArtNetOutput(config, DriverContext(RIG, Path(".")))


def _gone(pid: int, timeout_s: float) -> bool:
    """True once ``pid`` no longer runs (exited, or a zombie waiting for init to reap it)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.02)
    return False


def _frame(level: int) -> bytes:
    return bytes([level]) * 512


def test_frames_set_from_several_threads_at_once_arrive_whole(node: ArtNetNode) -> None:
    output = _artnet(node, keepalive_s=0.0)
    output.open(2.0)
    stop = threading.Event()
    levels = {0}

    def writer(base: int) -> None:
        end = time.monotonic() + 1.0
        for n in range(500_000):  # bounded in count and to 1 s of back-to-back swaps per thread
            if stop.is_set() or time.monotonic() > end:
                return
            output.set_universe(1 + n % 2, _frame(base + n % 40))

    for base in (10, 60, 110, 160):
        levels.update(range(base, base + 40))
    threads = [threading.Thread(target=writer, args=(base,)) for base in (10, 60, 110, 160)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20.0)
        output.set_universe(1, _frame(7))
        output.wait_sent(2.0)
    finally:
        stop.set()
        output.close()
    received = node.packets()
    assert len(received) > 20
    for record in received:  # every frame on the wire is one the controller set, never a mix of two
        data = record.packet.data
        assert data == bytes([data[0]]) * 512
        assert data[0] in levels | {7}
    assert node.violations == []


def test_a_killed_sender_process_is_reported_by_wait_sent_naming_the_device(node: ArtNetNode) -> None:
    output = _artnet(node)
    output.open(2.0)
    try:
        pid = output.sender_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert _gone(pid, 5.0)
        output.set_universe(1, _frame(9))
        with pytest.raises(DeviceError, match=r"artnet0: the sender process exited unexpectedly \(exit code -9\)"):
            output.wait_sent(2.0)
    finally:
        output.close()


def test_a_sender_that_cannot_make_its_socket_fails_open_with_the_reason(node: ArtNetNode) -> None:
    output = _artnet(node, bind_host="203.0.113.7")  # not an address of this machine
    with pytest.raises(DeviceError, match=r"artnet0: the sender could not start: OSError: .*assign"):
        output.open(2.0)
    assert output.sender_pid is None


def test_close_sends_the_blackout_then_stops_the_process(node: ArtNetNode) -> None:
    output = _artnet(node)
    output.open(2.0)
    pid = output.sender_pid
    assert pid is not None
    output.set_universe(1, _frame(200))
    output.wait_sent(2.0)
    output.set_universe(1, bytes(512))  # the engine's blackout, then close at once
    output.close()
    assert _gone(pid, 1.0)
    assert output.sender_pid is None
    deadline = time.monotonic() + 2.0
    while node.frame(1) != bytes(512) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert node.frame(1) == bytes(512)
    with pytest.raises(DeviceError, match="artnet0: the sender is not running"):
        output.wait_sent(0.1)


def test_sacn_close_flushes_the_blackout_and_terminates_each_stream(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    with SacnReceiver("127.0.0.1", 0) as receiver:
        output = SacnOutput(LightOutputConfig(id="sacn0", driver="sacn", universes=(1, 2),
                                              params={"port": receiver.port}), DriverContext(RIG, Path(".")))
        output.open(2.0)
        output.set_universe(2, _frame(90))
        output.wait_sent(2.0)
        output.set_universe(2, bytes(512))
        output.close()
        deadline = time.monotonic() + 2.0
        while len(receiver.terminations) < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sorted(u for _, u, _ in receiver.terminations) == [1, 1, 1, 2, 2, 2]
        assert receiver.frame(2) == bytes(512)
        assert receiver.violations == []


def test_the_clock_refuses_a_bad_universe_size_and_rate() -> None:
    spec = {"kind": "artnet", "host": "127.0.0.1", "port": 6454, "bind_host": "127.0.0.1", "broadcast": False,
            "physical": 0, "sync": False}
    with pytest.raises(ValueError, match=r"outside 0\.\.44 Hz"):
        ProcessFrameClock("x", [1], spec, rate_hz=60)
    clock = ProcessFrameClock("x", [1], spec)
    with pytest.raises(ValueError, match="does not carry universe 3"):
        clock.set_frame(3, bytes(512))
    with pytest.raises(ValueError, match="512 levels, got 10"):
        clock.set_frame(1, bytes(10))


_CONTROLLER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from capturerig.config import LightOutputConfig, RigConfig
    from capturerig.devices import DriverContext
    from capturerig.devices.artnet import ArtNetOutput
    rig = RigConfig.model_validate({"name": "orphan", "cameras": [{"id": "c", "driver": "sim", "serial": "S",
        "body": "b", "group": "g", "intrinsics": {"width": 8, "height": 8, "fx": 1, "fy": 1, "cx": 4, "cy": 4},
        "pose": {"position": [1, 0, 1]}}]})
    output = ArtNetOutput(LightOutputConfig(id="a", driver="artnet", universes=(1,),
                                            params={"port": int(sys.argv[1])}), DriverContext(rig, Path(".")))
    output.open(5.0)
    print(output.sender_pid, flush=True)
    time.sleep(60)
""")


def test_a_killed_controller_leaves_no_sender_behind(node: ArtNetNode) -> None:
    controller = subprocess.Popen([sys.executable, "-c", _CONTROLLER, str(node.port)], stdout=subprocess.PIPE,
                                  text=True)
    try:
        assert controller.stdout is not None
        line = controller.stdout.readline()  # bounded by open(5.0) in the controller
        sender = int(line)
        assert not _gone(sender, 0.2)
        controller.kill()  # SIGKILL: no atexit, no close()
        controller.wait(timeout=5.0)
        assert _gone(sender, 3.0), f"sender process {sender} outlived its controller"
    finally:
        if controller.poll() is None:
            controller.kill()
            controller.wait(timeout=5.0)


def test_a_send_error_in_the_process_reaches_wait_sent_naming_the_device_and_cause() -> None:
    spec = {"kind": "artnet", "host": "127.0.0.1", "port": 0, "bind_host": "127.0.0.1", "broadcast": False,
            "physical": 0, "sync": False}  # port 0: every sendto fails with EINVAL, nothing leaves the host
    clock = ProcessFrameClock("artnet9", [1], spec, repeat_after_s=2.0)
    clock.start()
    try:
        clock.set_frame(1, _frame(3))
        with pytest.raises(DeviceTimeout, match=r"artnet9: frame not on the wire after 0\.3 s: last error "
                                                r"sending universe 1 failed: .*Invalid argument"):
            clock.wait_sent(0.3)
        assert clock.pid is not None
        assert not _gone(clock.pid, 0.1)
    finally:
        clock.stop(flush=False)


def test_the_sender_never_takes_a_half_written_slot() -> None:
    # The controller writes a slot under a seqlock (odd while writing) with a crc: a reader that catches it
    # mid-write, or sees a frame that does not match its crc, gets nothing and reads again.
    memory = mmap.mmap(-1, SLOT_SIZE * 2)
    _write_slot(memory, 1, 5, _frame(42), zlib.crc32(_frame(42)), 12.5)
    assert read_slot(memory, 1, 512) == (5, 12.5, _frame(42))
    memory[SLOT_SIZE:SLOT_SIZE + 8] = (11).to_bytes(8, "little")  # odd: a writer is half way through
    memory[SLOT_SIZE + FRAME_OFFSET:SLOT_SIZE + FRAME_OFFSET + 256] = bytes([9]) * 256
    assert read_slot(memory, 1, 512) is None
    memory[SLOT_SIZE:SLOT_SIZE + 8] = (12).to_bytes(8, "little")  # even, but the levels are a mix of two frames
    assert read_slot(memory, 1, 512) is None
    _write_slot(memory, 1, 6, _frame(9), zlib.crc32(_frame(9)), 13.0)
    assert read_slot(memory, 1, 512) == (6, 13.0, _frame(9))
