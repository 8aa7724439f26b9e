"""The fault proxy's own cost with no fault set: round trip added and throughput, against a direct connection.

Three processes on loopback, as a chaos run places them: a server (echo for pings, a byte source for
throughput), the proxy started as the chaos runner would from another process (``python -m
capturerig_sim.faultproxy``), and this client. Pings: 64-byte messages, one at a time, direct and through the
proxy in alternating blocks so a drift in the machine's load falls on both. Throughput: the server sends
``--megabytes`` to one connection, timed from the request to the last byte, the median of three runs.
What the proxy adds matters next to the agent link's own targets (command round trip p99 <= 10 ms).
Run: .venv/bin/python bench/faultproxy.py [--pings 4000] [--megabytes 256]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _figures import record  # bench/ is not a package; bench/all.py collects these figures

BENCH = "faultproxy"
PING = 64
BLOCKS = 8


def _serve_one(conn: socket.socket) -> None:
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        mode = conn.recv(1)
        if mode == b"S":
            (size,) = struct.unpack("!Q", conn.recv(8, socket.MSG_WAITALL))
            block = bytes(1 << 20)
            for start in range(0, size, len(block)):
                conn.sendall(block[:min(len(block), size - start)])
            return
        while data := conn.recv(65536):
            conn.sendall(data)


def _server(listening: socket.socket) -> None:
    """Child process: echo (first byte ``E``) or send N bytes (``S`` + 8-byte length), a thread each."""
    while True:
        conn, _ = listening.accept()
        threading.Thread(target=_serve_one, args=(conn,), daemon=True).start()


def _pings(address: tuple[str, int], count: int) -> list[float]:
    with socket.create_connection(address, timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(b"E")
        message, times = bytes(PING), []
        for _ in range(count):
            started = time.perf_counter()
            sock.sendall(message)
            got = 0
            while got < PING:
                got += len(sock.recv(PING - got))
            times.append((time.perf_counter() - started) * 1e3)
    return times


def _throughput(address: tuple[str, int], size: int) -> float:
    """MB/s for ``size`` bytes sent by the server to one connection."""
    buffer = bytearray(1 << 20)
    with socket.create_connection(address, timeout=30) as sock:
        started = time.perf_counter()
        sock.sendall(b"S" + struct.pack("!Q", size))
        got = 0
        while got < size:
            n = sock.recv_into(buffer)
            if not n:
                raise RuntimeError(f"the stream ended after {got} of {size} bytes")
            got += n
        return size / (time.perf_counter() - started) / 1e6


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pings", type=int, default=4000)
    parser.add_argument("--megabytes", type=int, default=256)
    args = parser.parse_args()

    listening = socket.create_server(("127.0.0.1", 0), backlog=64)
    server = multiprocessing.get_context("fork").Process(target=_server, args=(listening,), daemon=True)
    server.start()
    direct = listening.getsockname()[:2]
    listening.close()  # the server process holds its own copy
    command = [sys.executable, "-m", "capturerig_sim.faultproxy", "--target", f"{direct[0]}:{direct[1]}"]
    proxy = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proxy.stdout is not None
        ready = json.loads(proxy.stdout.readline())
        proxied = (str(ready["listen"][0]), int(ready["listen"][1]))
        _pings(direct, 200)  # warm both paths up
        _pings(proxied, 200)
        plain: list[float] = []
        through: list[float] = []
        for _ in range(BLOCKS):
            plain += _pings(direct, args.pings // BLOCKS)
            through += _pings(proxied, args.pings // BLOCKS)
        size = args.megabytes << 20
        rate_direct = statistics.median(_throughput(direct, size) for _ in range(3))
        rate_proxied = statistics.median(_throughput(proxied, size) for _ in range(3))
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
        server.terminate()
        server.join(timeout=10)

    print(f"round trip, {PING}-byte ping, {len(plain)} each (ms):   p50      p99")
    print(f"  direct                                     {_pct(plain, 50):7.3f}  {_pct(plain, 99):7.3f}")
    print(f"  through the fault proxy, no faults         {_pct(through, 50):7.3f}  {_pct(through, 99):7.3f}")
    added_p50 = _pct(through, 50) - _pct(plain, 50)
    added_p99 = _pct(through, 99) - _pct(plain, 99)
    print(f"  added by the proxy                         {added_p50:7.3f}  {added_p99:7.3f}")
    print(f"throughput, {args.megabytes} MiB one connection: direct {rate_direct:.0f} MB/s, "
          f"through the proxy {rate_proxied:.0f} MB/s ({rate_proxied / rate_direct:.2f}x)")
    note = "proxy in its own process (python -m capturerig_sim.faultproxy), loopback, no faults"
    record(BENCH, "round trip added, p50", added_p50, "ms", note=note)
    record(BENCH, "round trip added, p99", added_p99, "ms", note=note)
    record(BENCH, "throughput through the proxy, one connection", rate_proxied, "MB/s", bound=rate_direct,
           better="higher", note=f"bound = the same transfer direct; {note}")


if __name__ == "__main__":
    main()
