"""sACN (E1.31) light output: data packets over UDP from one sender clock, unicast or multicast.

Rig params (all optional): ``host`` (unicast receiver, default 127.0.0.1), ``port`` (5568), ``multicast``
(send to 239.255.hi.lo of each universe instead of ``host``), ``multicast_interface`` (local address whose
interface carries multicast), ``multicast_ttl`` (default 8), ``bind_host``, ``priority`` (0..200, default 100),
``source_name`` (default "capturerig <output id>"), ``cid`` (a UUID; by default one per install, kept in
``$XDG_CONFIG_HOME/capturerig/sacn-cid``), ``rate_hz`` (<= 44), ``keepalive_s`` (resend an unchanged frame after
this long, default 0.8 s: receivers declare a source lost after 2.5 s; 0 refreshes every tick),
``sync_address`` (E1.31 synchronization universe, default 0 = none), ``realtime_priority`` (1..99, default 10:
SCHED_FIFO priority of the sender process, so a busy machine does not delay ticks; without CAP_SYS_NICE it
warns and runs normally).

Packets (with their sequence counters) are built and sent by a sender process
(:class:`~capturerig.devices._sender_process.ProcessFrameClock`), so the controller's threads never delay
a tick; a changed frame leaves at once when its universe has been quiet for a period.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

from capturerig.config import LightOutputConfig
from capturerig.devices._netdmx_params import (
    param_bool,
    param_float,
    param_host,
    param_int,
    param_str,
    rate_hz,
    realtime_priority,
)
from capturerig.devices._process_output import ProcessClockOutput
from capturerig.devices._registry import DriverContext
from capturerig.devices._sacn_packets import SACN_PORT
from capturerig.devices._sender_process import DEFAULT_REALTIME_PRIORITY, ProcessFrameClock
from capturerig.devices.protocols import DeviceError

__all__ = ["SACN_KEEPALIVE_S", "TERMINATE_PACKETS", "SacnOutput", "install_cid", "install_cid_path"]

log = logging.getLogger(__name__)
SACN_KEEPALIVE_S = 0.8
TERMINATE_PACKETS = 3  # E1.31 6.2.6: a source stopping a universe sends three Stream_Terminated packets
_MAX_KEEPALIVE_S = 1.0


def install_cid_path() -> Path:
    """Where this install's sACN CID lives: ``$XDG_CONFIG_HOME/capturerig/sacn-cid`` (~/.config by default)."""
    root = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(root) / "capturerig" / "sacn-cid"


def install_cid(path: Path | None = None) -> uuid.UUID:
    """This install's CID: read from ``path`` (see :func:`install_cid_path`), or made once and stored there.

    A receiver tells sources apart by CID, so it must stay the same across runs of the same controller.

    Raises
    ------
    ValueError
        When the file exists but does not hold a UUID (the message names the file).
    OSError
        When a new CID cannot be stored.
    """
    path = install_cid_path() if path is None else path
    if path.exists():
        text = path.read_text(encoding="utf-8").strip()
        try:
            return uuid.UUID(text)
        except ValueError:
            raise ValueError(f"{path}: {text[:40]!r} is not a UUID; delete the file to make a new sACN CID") from None
    cid = uuid.uuid4()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(f"{cid}\n", encoding="utf-8")
    os.replace(temporary, path)  # atomic: two processes starting together keep one of the two, never a torn file
    return uuid.UUID(path.read_text(encoding="utf-8").strip())


class SacnOutput(ProcessClockOutput):
    """A light output that streams its universes (1..63999) as E1.31 data packets.

    Parameters
    ----------
    config : LightOutputConfig
        ``universes`` are sACN universes; ``params`` as in the module docstring.
    context : DriverContext
        Unused; part of the driver signature.

    Raises
    ------
    DeviceError
        For a malformed param, universe 0, or an unreadable CID file (the message names it).
    """

    def __init__(self, config: LightOutputConfig, context: DriverContext) -> None:
        params = config.params
        self._id = config.id
        bad = [u for u in config.universes if not 1 <= u <= 63999]
        if bad:
            raise DeviceError(config.id, f"sACN universes are 1..63999, got {', '.join(map(str, bad))}",
                              "renumber the output's universes (universe 0 is reserved in E1.31)")
        self.host = param_host(config.id, params, "host", "127.0.0.1")
        self.port = param_int(config.id, params, "port", SACN_PORT, 1, 65535)
        self.bind_host = param_host(config.id, params, "bind_host", "0.0.0.0")
        self.multicast = param_bool(config.id, params, "multicast", False)
        self.multicast_interface = param_host(config.id, params, "multicast_interface", "0.0.0.0")
        self.multicast_ttl = param_int(config.id, params, "multicast_ttl", 8, 1, 255)
        self.priority = param_int(config.id, params, "priority", 100, 0, 200)
        self.sync_address = param_int(config.id, params, "sync_address", 0, 0, 63999)
        self.source_name = param_str(config.id, params, "source_name", f"capturerig {config.id}")
        if len(self.source_name.encode("utf-8")) > 63:
            raise DeviceError(config.id, f"params.source_name {self.source_name!r} is over 63 UTF-8 bytes",
                              "shorten it")
        self.cid = self._cid(params.get("cid"))
        keepalive = param_float(config.id, params, "keepalive_s", SACN_KEEPALIVE_S, 0.0, _MAX_KEEPALIVE_S)
        self.keepalive_s = keepalive  # an unchanged frame is resent after this long (0: every tick)
        spec = {"kind": "sacn", "host": self.host, "port": self.port, "bind_host": self.bind_host,
                "multicast": self.multicast, "multicast_interface": self.multicast_interface,
                "multicast_ttl": self.multicast_ttl, "priority": self.priority, "sync_address": self.sync_address,
                "source_name": self.source_name, "cid": self.cid.hex(), "terminate_packets": TERMINATE_PACKETS}
        priority = realtime_priority(config.id, params)
        self._clock = ProcessFrameClock(config.id, config.universes, spec, rate_hz(config.id, params),
                                        repeat_after_s=self.keepalive_s,
                                        realtime_priority=DEFAULT_REALTIME_PRIORITY if priority is None else priority)

    def _cid(self, value: object) -> bytes:
        try:
            if value is not None:
                return uuid.UUID(str(value)).bytes
            return install_cid().bytes
        except ValueError as exc:
            raise DeviceError(self.id, f"bad sACN CID: {exc}", "give params.cid as a UUID") from None
        except OSError as exc:
            raise DeviceError(self.id, f"cannot store this install's sACN CID: {exc}",
                              "set XDG_CONFIG_HOME to a writable folder or give params.cid") from None

