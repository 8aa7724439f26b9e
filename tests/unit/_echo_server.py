"""A TCP echo server on loopback for the fault proxy's tests, and a client helper with bounded reads."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

Address = tuple[str, int]


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        try:
            while data := self.request.recv(65536):
                self.request.sendall(data)
        except OSError:  # the proxy cut this connection: that is the fault under test, the server just ends it
            return


@contextmanager
def echo_server() -> Iterator[Address]:
    """An echo server on 127.0.0.1 (any free port); yields its address."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield str(host), int(port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def connect(address: Address, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(address, timeout=timeout)


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    """Read ``size`` bytes (each read bounded by the socket's timeout); fails if the stream ends early."""
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, f"the connection ended after {len(data)} of {size} bytes"
        data += chunk
    return bytes(data)


def round_trip(sock: socket.socket, message: bytes = b"ping") -> float:
    """Seconds for ``message`` to come back from the echo server."""
    started = time.perf_counter()
    sock.sendall(message)
    assert recv_exactly(sock, len(message)) == message
    return time.perf_counter() - started


def send_in_background(sock: socket.socket, payload: bytes) -> threading.Thread:
    """Send ``payload`` from a thread, so the test can read the echo meanwhile (a reset ends the sending)."""
    def send() -> None:
        try:
            sock.sendall(payload)
        except OSError:  # the connection was reset under the sender: the reader's assertions say what matters
            return

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread
