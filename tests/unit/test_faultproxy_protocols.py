"""The agent link's protocols through the fault proxy: an HTTP Range download resumed across resets, a
WebSocket under latency, slicing and a partition, and the proxy driven from another process."""

from __future__ import annotations

import json
import random
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
import websockets.sync.server
from fastapi import FastAPI
from fastapi.responses import FileResponse
from websockets.sync.client import connect as ws_connect

from capturerig_sim.faultproxy import FaultProxy, FaultProxyError, ProxyControl
from tests.conftest import REPO_ROOT
from tests.unit._echo_server import Address, connect, echo_server, round_trip

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[tuple[Address, bytes]]:
    """A FastAPI app serving one 1 MiB file (FileResponse answers Range) with uvicorn on a loopback port."""
    content = random.Random(3).randbytes(1 << 20)
    (tmp_path / "frame.raw").write_bytes(content)
    app = FastAPI()

    @app.get("/frame.raw")
    def frame() -> FileResponse:
        return FileResponse(tmp_path / "frame.raw")

    listening = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
        time.sleep(0.02)
    try:
        yield listening.getsockname()[:2], content
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        listening.close()


def test_an_http_range_download_resumed_after_each_reset_ends_with_the_whole_file(
        file_server: tuple[Address, bytes]) -> None:
    address, content = file_server
    with FaultProxy(("127.0.0.1", 0), address, seed=2) as proxy:
        proxy.reset_after(256 * 1024, direction="downstream")  # every connection is cut a quarter of the way in
        url = f"http://127.0.0.1:{proxy.address[1]}/frame.raw"
        received, statuses, cuts = bytearray(), [], 0
        with httpx.Client(timeout=5) as client:
            while len(received) < len(content):
                assert cuts < 20, f"no end after {cuts} resets, {len(received)} bytes"
                headers = {"Range": f"bytes={len(received)}-"} if received else {}
                try:
                    with client.stream("GET", url, headers=headers) as response:
                        statuses.append(response.status_code)
                        for chunk in response.iter_bytes():
                            received += chunk
                except (httpx.ReadError, httpx.RemoteProtocolError):
                    cuts += 1  # keep what arrived, ask for the rest
        assert bytes(received) == content
        assert cuts >= 3
        assert statuses[0] == 200
        assert set(statuses[1:]) == {206}
        assert proxy.counters.connections_reset >= cuts


def test_a_websocket_survives_latency_slicing_and_a_short_partition() -> None:
    def echo(connection: websockets.sync.server.ServerConnection) -> None:
        for message in connection:
            connection.send(message)

    with websockets.sync.server.serve(echo, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        host, port = server.socket.getsockname()[:2]
        with FaultProxy(("127.0.0.1", 0), (host, port), partition_survival=10.0) as proxy, \
                ws_connect(f"ws://127.0.0.1:{proxy.address[1]}/", open_timeout=5) as socket_:
            proxy.set_latency(0.05)
            started = time.perf_counter()
            socket_.send("hello")
            assert socket_.recv(timeout=5) == "hello"
            assert time.perf_counter() - started >= 0.1
            proxy.set_latency(0.0)
            proxy.set_slice(3, direction="both")
            frame = random.Random(4).randbytes(20_000)
            socket_.send(frame)
            assert socket_.recv(timeout=10) == frame  # reassembled from 3-byte pieces
            proxy.set_slice(None)
            proxy.partition()
            socket_.send("during the partition")
            with pytest.raises(TimeoutError):
                socket_.recv(timeout=0.3)
            assert proxy.heal() is True
            assert socket_.recv(timeout=5) == "during the partition"
        server.shutdown()
        thread.join(timeout=5)


def _ready_line(process: subprocess.Popen[str], timeout: float = 15.0) -> dict[str, list[object]]:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, f"the proxy printed nothing within {timeout} s"
    line = process.stdout.readline()
    assert line, f"the proxy exited: {process.stderr.read() if process.stderr else ''}"
    answer: dict[str, list[object]] = json.loads(line)
    return answer


def test_the_cli_proxy_is_driven_from_another_process_through_its_control_endpoint() -> None:
    command = [sys.executable, "-m", "capturerig_sim.faultproxy", "--seed", "5", "--target"]
    with echo_server() as echo, subprocess.Popen([*command, f"{echo[0]}:{echo[1]}"], stdout=subprocess.PIPE,
                                                 stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT) as process:
        try:
            ready = _ready_line(process)
            listen = (str(ready["listen"][0]), int(str(ready["listen"][1])))
            control = ProxyControl((str(ready["control"][0]), int(str(ready["control"][1]))))
            with connect(listen) as client:
                control.call("set_latency", delay=0.1, direction="downstream")
                assert round_trip(client) >= 0.1
                control.call("down")
                with pytest.raises(ConnectionRefusedError):
                    connect(listen)
                assert control.call("faults")["down"] is True
                assert control.call("counters")["connections_opened"] == 1
                with pytest.raises(FaultProxyError, match="unknown op 'explode'"):
                    control.call("explode")
                with pytest.raises(FaultProxyError, match="delay must be >= 0"):
                    control.call("set_latency", delay=-1)
                assert control.call("reset") == 1
            process.terminate()
            assert process.wait(timeout=10) == 0  # SIGTERM is the documented way to stop it
        finally:
            if process.poll() is None:
                process.kill()


def test_the_control_endpoint_binds_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback only"):
        FaultProxy(("127.0.0.1", 0), ("127.0.0.1", 1), control=("0.0.0.0", 0)).start()
