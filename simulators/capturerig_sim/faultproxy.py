"""A user-space TCP fault proxy (no root): put it between the controller and a capture agent to test the link.

::

    with FaultProxy(("127.0.0.1", 0), ("127.0.0.1", agent_port), seed=1) as proxy:
        url = f"http://{proxy.address[0]}:{proxy.address[1]}"     # the controller talks to this
        proxy.set_latency(0.05, jitter=0.01)                      # both ways; direction="upstream"|"downstream"
        proxy.set_bandwidth(10e6)                                 # bytes/s, one link shared by every connection
        proxy.set_slice(7, delay=0.001)                           # tiny writes, to shake out framing bugs
        proxy.reset_after(256 * 1024, direction="downstream")     # cut every connection after 256 KiB
        proxy.reset()                                             # RST every open connection now
        proxy.partition(); ...; proxy.heal()                      # silence, then (see below) resets
        proxy.down(); ...; proxy.up()                             # connection refused, then accepted again
        proxy.clear()                                             # lift every fault
        proxy.counters                                            # bytes each way, connections opened/reset

The proxy runs an asyncio loop on its own thread, so tests and the chaos runner drive it from sync code;
faults change at any time and apply from the next chunk. Jitter is seeded per (seed, connection number,
direction), so a chaos run replays it. A partition holds bytes back; on heal, connections survive (held
bytes flow) if it lasted at most ``partition_survival`` seconds, else each is reset (see ``ProxyCore``).

From another process: ``python -m capturerig_sim.faultproxy --target HOST:PORT [--listen HOST:PORT]
[--control HOST:PORT] [--seed N] [--partition-survival S]`` prints one JSON line,
``{"listen": [host, port], "control": [host, port]}``, then proxies until SIGTERM or SIGINT; drive it through the
control endpoint (JSON lines, see ``_proxy_control``) with ``ProxyControl(control).call("partition")``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import threading
from collections.abc import Callable, Coroutine
from types import FrameType, TracebackType
from typing import Any, ParamSpec, Self, TypeVar

from capturerig_sim._proxy_control import FaultProxyError, ProxyControl, serve_control
from capturerig_sim._proxy_core import ProxyCore
from capturerig_sim._proxy_faults import Faults, ProxyCounters

__all__ = ["FaultProxy", "FaultProxyError", "Faults", "ProxyControl", "ProxyCounters", "main"]

_P = ParamSpec("_P")
_T = TypeVar("_T")
_CALL_TIMEOUT = 10.0  # seconds for any call into the proxy's loop; every call is quick unless the loop hangs


class FaultProxy:
    """Forwards each connection to ``listen`` (port 0 = any free port) on to ``target``, through faults.

    Parameters
    ----------
    listen, target
        (host, port) pairs.
    seed
        Seeds the jitter, so a run can be replayed.
    partition_survival
        The longest partition (seconds) that connections live through; longer ones reset them on heal.
    control
        (host, port) on loopback for the JSON control endpoint; None runs none.
    connect_timeout
        How long a connection may take to reach the target before the client's side is reset.
    """

    def __init__(self, listen: tuple[str, int], target: tuple[str, int], *, seed: int = 0,
                 partition_survival: float = 0.0, control: tuple[str, int] | None = None,
                 connect_timeout: float = 5.0) -> None:
        self._core = ProxyCore(listen, target, seed, partition_survival, connect_timeout)
        self._control_at = control
        self._control: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # Lifecycle.

    def start(self) -> Self:
        """Listen and start forwarding (returns self); raises OSError if ``listen`` cannot be bound."""
        if self._loop is not None:
            return self
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="faultproxy", daemon=True)
        self._thread.start()
        try:
            self._await(self._core.start)
            if self._control_at is not None:
                self._control = self._await(serve_control, self._core, self._control_at)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop listening, drop every connection, stop the loop's thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            if self._control is not None:
                self._call(self._control.close)
            self._await(self._core.stop)
        finally:
            self._loop = None
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5.0)
            if not thread.is_alive():
                loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    @property
    def address(self) -> tuple[str, int]:
        """Where clients connect: (host, port), the real port when 0 was asked for."""
        return self._core.address

    @property
    def control_address(self) -> tuple[str, int] | None:
        """The control endpoint's (host, port), or None when the proxy runs none."""
        if self._control is None:
            return None
        host, port = self._control.sockets[0].getsockname()[:2]
        return host, port

    @property
    def counters(self) -> ProxyCounters:
        """Bytes forwarded each way and connections opened, reset by faults, open now."""
        return self._call(self._core.counters)

    @property
    def faults(self) -> Faults:
        """The faults set now."""
        return self._core.faults

    # Faults. ``direction`` is "upstream" (client -> target), "downstream" (target -> client) or "both".

    def set_latency(self, delay: float, jitter: float = 0.0, direction: str = "both") -> None:
        """Hold every chunk ``delay`` + uniform(0, ``jitter``) seconds (seeded) before forwarding it."""
        self._call(self._core.set_latency, delay, jitter, direction)

    def set_bandwidth(self, rate: float | None, direction: str = "both") -> None:
        """Cap the rate (bytes/s) shared by all connections each way (token bucket, 20 ms burst); None lifts it."""
        self._call(self._core.set_bandwidth, rate, direction)

    def set_slice(self, size: int | None, delay: float = 0.0, direction: str = "both") -> None:
        """Forward in pieces of at most ``size`` bytes, ``delay`` seconds apart; None stops slicing."""
        self._call(self._core.set_slice, size, delay, direction)

    def reset_after(self, nbytes: int | None, direction: str = "both") -> None:
        """Reset each connection once ``nbytes`` have gone its way (counted from its start); None lifts it.

        Bytes still in the proxy's socket buffers when the RST goes are lost, as on a real reset.
        """
        self._call(self._core.reset_after, nbytes, direction)

    def reset(self) -> int:
        """Reset every open connection now (RST, SO_LINGER 0); returns how many."""
        return self._call(self._core.reset)

    def partition(self) -> None:
        """Forward nothing, keep connections open, accept new ones silently, until :meth:`heal`."""
        self._call(self._core.partition)

    def heal(self, reset: bool | None = None) -> bool:
        """End a partition; returns whether connections survived it (True when there was none).

        ``reset=None`` decides by ``partition_survival``; True or False forces either outcome.
        """
        return self._call(self._core.heal, reset)

    def down(self) -> None:
        """Close the listening port (new connections are refused); open connections carry on."""
        self._call(self._core.down)

    def up(self) -> None:
        """Listen again on the same address; raises RuntimeError if another program took the port."""
        self._await(self._core.up)

    def clear(self) -> None:
        """Lift every fault: heal (by ``partition_survival``), listen again, forward untouched."""
        self._await(self._core.clear)

    # Calls into the loop's thread, where all of the proxy's state lives.

    def _call(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        async def run() -> _T:
            return fn(*args, **kwargs)

        return self._submit(run())

    def _await(self, fn: Callable[_P, Coroutine[Any, Any, _T]], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        return self._submit(fn(*args, **kwargs))

    def _submit(self, coro: Coroutine[Any, Any, _T]) -> _T:
        loop = self._loop
        if loop is None:
            coro.close()
            raise RuntimeError("the fault proxy is not running: use it as a context manager or call start()")
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("FaultProxy's methods are for other threads; on its loop, use ProxyCore")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=_CALL_TIMEOUT)


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, e.g. 127.0.0.1:8000, not {text!r}")
    return host.strip("[]"), int(port)


def main(argv: list[str] | None = None) -> int:
    """``python -m capturerig_sim.faultproxy``: see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m capturerig_sim.faultproxy", description=__doc__.split("\n")[0])
    parser.add_argument("--target", type=_address, required=True, help="HOST:PORT to forward to")
    parser.add_argument("--listen", type=_address, default=("127.0.0.1", 0), help="HOST:PORT (default 127.0.0.1:0)")
    parser.add_argument("--control", type=_address, default=("127.0.0.1", 0),
                        help="loopback HOST:PORT of the JSON control endpoint (default 127.0.0.1:0)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--partition-survival", type=float, default=0.0,
                        help="longest partition (s) connections live through; longer ones reset them on heal")
    args = parser.parse_args(argv)
    stop = threading.Event()

    def on_signal(number: int, frame: FrameType | None) -> None:
        stop.set()

    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, on_signal)
    try:
        proxy = FaultProxy(args.listen, args.target, seed=args.seed, partition_survival=args.partition_survival,
                           control=args.control)
        proxy.start()
    except (OSError, ValueError) as error:
        print(f"fault proxy: cannot start: {error}", file=sys.stderr)
        return 2
    with proxy:
        print(json.dumps({"listen": list(proxy.address), "control": list(proxy.control_address or ())}),
              flush=True)
        stop.wait()  # the signal handler runs on this thread and wakes it
    return 0


if __name__ == "__main__":
    sys.exit(main())
