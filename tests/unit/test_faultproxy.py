"""The fault proxy between a client and a real echo server on loopback: what a client sees under each fault."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable, Iterator

import pytest

from capturerig_sim._proxy_faults import delay_draws
from capturerig_sim.faultproxy import FaultProxy
from tests.unit._echo_server import Address, connect, echo_server, recv_exactly, round_trip, send_in_background

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def echo() -> Iterator[Address]:
    with echo_server() as address:
        yield address


@pytest.fixture
def proxy(echo: Address) -> Iterator[FaultProxy]:
    with FaultProxy(("127.0.0.1", 0), echo, seed=1) as running:
        yield running


def _payload(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.01)


def test_bytes_pass_unchanged_both_ways_and_are_counted(proxy: FaultProxy) -> None:
    payload = _payload(1 << 20)
    with connect(proxy.address) as client:
        send_in_background(client, payload)
        assert recv_exactly(client, len(payload)) == payload
    counters = proxy.counters
    assert (counters.bytes_upstream, counters.bytes_downstream) == (len(payload), len(payload))
    assert (counters.connections_opened, counters.connections_reset) == (1, 0)
    _wait_until(lambda: proxy.counters.connections_open == 0, "the closed connection left the proxy")


def test_latency_adds_at_least_the_set_delay_each_way(proxy: FaultProxy) -> None:
    with connect(proxy.address) as client:
        # Upper bounds are loose: a loaded 2-core machine adds scheduling delay, never less than the latency set.
        assert round_trip(client) < 0.2
        proxy.set_latency(0.1)
        trips = [round_trip(client) for _ in range(3)]
        assert min(trips) >= 0.2, f"round trips {trips} with 100 ms each way"
        assert max(trips) < 1.0
        proxy.set_latency(0.0, direction="upstream")
        assert 0.1 <= round_trip(client) < 0.2 + 0.3  # only the way back is delayed now


def test_jitter_stays_within_its_bound_and_the_same_seed_replays_it(proxy: FaultProxy) -> None:
    proxy.set_latency(0.02, jitter=0.08, direction="downstream")
    with connect(proxy.address) as client:
        trips = [round_trip(client) for _ in range(8)]
    assert min(trips) >= 0.02, trips
    assert max(trips) < 0.1 + 0.2, trips
    assert max(trips) - min(trips) > 0.005, f"no jitter in {trips}"
    first = [delay_draws(1, 3, "upstream").random() for _ in range(3)]
    assert first == [delay_draws(1, 3, "upstream").random() for _ in range(3)]
    assert first != [delay_draws(2, 3, "upstream").random() for _ in range(3)]


@pytest.mark.parametrize("direction", ["upstream", "downstream"])
def test_bandwidth_cap_holds_a_transfer_within_20_percent_of_the_rate(proxy: FaultProxy, direction: str) -> None:
    rate, payload = 200_000, _payload(300_000)
    proxy.set_bandwidth(rate, direction=direction)
    with connect(proxy.address) as client:
        started = time.perf_counter()
        send_in_background(client, payload)
        assert recv_exactly(client, len(payload)) == payload
        elapsed = time.perf_counter() - started
    expected = len(payload) / rate
    assert 0.8 * expected <= elapsed <= 1.2 * expected, f"{elapsed:.2f} s, expected {expected:.2f} s"


def test_reset_cuts_every_open_connection_with_a_connection_reset(proxy: FaultProxy) -> None:
    with connect(proxy.address) as first, connect(proxy.address) as second:
        round_trip(first)
        round_trip(second)
        assert proxy.reset() == 2
        for client in (first, second):
            with pytest.raises(ConnectionResetError):
                client.recv(10)
    assert proxy.counters.connections_reset == 2
    with connect(proxy.address) as client:
        round_trip(client)  # new connections pass


def test_reset_after_n_bytes_delivers_at_most_that_prefix_then_resets(proxy: FaultProxy) -> None:
    proxy.reset_after(10_000, direction="downstream")
    payload = _payload(60_000)
    received = bytearray()
    with connect(proxy.address) as client, pytest.raises(ConnectionResetError):  # noqa: PT012
        send_in_background(client, payload)
        while chunk := client.recv(65536):
            received += chunk
    assert len(received) <= 10_000
    assert bytes(received) == payload[:len(received)]
    assert proxy.counters.connections_reset == 1


def test_partition_makes_reads_time_out_and_a_short_one_lets_held_bytes_through(echo: Address) -> None:
    with FaultProxy(("127.0.0.1", 0), echo, partition_survival=10.0) as proxy, connect(proxy.address) as client:
        round_trip(client)
        proxy.partition()
        client.sendall(b"held")
        client.settimeout(0.3)
        with pytest.raises(TimeoutError):
            client.recv(10)
        with connect(proxy.address) as during:  # accepted (silence, not a refusal), forwarded after the heal
            during.sendall(b"late")
            assert proxy.heal() is True
            during.settimeout(5)
            assert recv_exactly(during, 4) == b"late"
        client.settimeout(5)
        assert recv_exactly(client, 4) == b"held"
        round_trip(client)
        assert proxy.counters.connections_reset == 0


def test_a_partition_longer_than_the_survival_limit_resets_connections_when_it_heals(proxy: FaultProxy) -> None:
    with connect(proxy.address) as client:
        round_trip(client)
        proxy.partition()
        client.sendall(b"lost")
        time.sleep(0.05)
        assert proxy.heal() is False
        with pytest.raises(ConnectionResetError):
            client.recv(10)
        assert proxy.counters.bytes_upstream == len(b"ping")  # the held bytes died with the connection
    with connect(proxy.address) as client:
        round_trip(client)
    assert proxy.counters.connections_reset == 1


def test_down_refuses_new_connections_while_open_ones_carry_on(proxy: FaultProxy) -> None:
    with connect(proxy.address) as open_before:
        round_trip(open_before)
        proxy.down()
        with pytest.raises(ConnectionRefusedError):
            connect(proxy.address)
        round_trip(open_before)
        proxy.up()
        with connect(proxy.address) as client:
            round_trip(client)


def test_slice_delivers_the_same_bytes_in_small_reads(proxy: FaultProxy) -> None:
    proxy.set_slice(7, delay=0.01, direction="downstream")
    payload = _payload(140)  # 20 pieces
    reads: list[bytes] = []
    with connect(proxy.address) as client:
        client.sendall(payload)
        while sum(map(len, reads)) < len(payload):
            reads.append(client.recv(4096))
            assert reads[-1], "the connection ended early"
    assert b"".join(reads) == payload
    # A read merges two pieces only if this thread slept through a whole 10 ms gap (a loaded machine).
    small = [read for read in reads if len(read) <= 7]
    assert len(small) >= 18, f"read sizes {[len(read) for read in reads]}"


def test_clear_lifts_every_fault(proxy: FaultProxy) -> None:
    proxy.set_latency(0.2)
    proxy.set_bandwidth(1000)
    proxy.partition()
    proxy.down()
    proxy.clear()
    assert proxy.faults.partitioned is False
    assert proxy.faults.down is False
    with connect(proxy.address) as client:
        assert round_trip(client, _payload(50_000)) < 0.2


def test_a_target_that_refuses_shows_the_client_a_reset_not_a_hang() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]
    # The reset may reach the client while connect() returns (a loaded machine) or at its first read: both are
    # a reset, neither a hang.
    with (FaultProxy(("127.0.0.1", 0), ("127.0.0.1", closed_port)) as proxy, pytest.raises(ConnectionResetError),
          connect(proxy.address) as client):
        client.recv(10)


def test_bad_fault_settings_are_refused_saying_what_is_wrong(proxy: FaultProxy) -> None:
    with pytest.raises(ValueError, match="delay must be >= 0"):
        proxy.set_latency(-0.1)
    with pytest.raises(ValueError, match="direction must be"):
        proxy.set_bandwidth(1000, direction="sideways")
    with pytest.raises(ValueError, match="slice size must be >= 1"):
        proxy.set_slice(0)
    idle = FaultProxy(("127.0.0.1", 0), ("127.0.0.1", 1))
    with pytest.raises(RuntimeError, match="not running"):
        idle.partition()
