"""sACN (E1.31) light output: data packets over UDP from one sender clock, unicast or multicast.

Rig params (all optional): :class:`SacnParams`.

Packets (with their sequence counters) are built and sent by a sender process
(:class:`~capturerig.devices._sender_process.ProcessFrameClock`), so the controller's threads never delay
a tick; a changed frame leaves at once when its universe has been quiet for a period.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field

from capturerig.config import MAX_DMX_RATE_HZ, LightOutputConfig
from capturerig.devices._params import DmxRateHz, DriverParams, IPv4Host, RealtimePriority
from capturerig.devices._process_output import ProcessClockOutput
from capturerig.devices._registry import DriverContext
from capturerig.devices._sacn_packets import SACN_PORT
from capturerig.devices._sender_process import DEFAULT_REALTIME_PRIORITY, ProcessFrameClock
from capturerig.devices.protocols import DeviceError

__all__ = ["SACN_KEEPALIVE_S", "TERMINATE_PACKETS", "SacnOutput", "SacnParams", "install_cid", "install_cid_path"]

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


def _source_name(value: str) -> str:
    if len(value.encode("utf-8")) > 63:
        raise ValueError(f"{value!r} is over 63 UTF-8 bytes (E1.31's Source Name field); shorten it")
    return value


def _uuid_text(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError(f"{value!r} is not a UUID such as {uuid.UUID(int=1)}") from None


class SacnParams(DriverParams):
    """An sACN (E1.31) output's rig params (``driver: sacn``)."""

    host: IPv4Host = Field("127.0.0.1", description="the receiver's IPv4 address (unicast)")
    port: int = Field(SACN_PORT, ge=1, le=65535, description="the receiver's UDP port")
    bind_host: IPv4Host = Field("0.0.0.0", description="the local IPv4 address to send from")
    multicast: bool = Field(False, description="send to each universe's group 239.255.hi.lo instead of host")
    multicast_interface: IPv4Host = Field("0.0.0.0", description="the local address whose interface carries "
                                                                 "multicast")
    multicast_ttl: int = Field(8, ge=1, le=255, description="how many routers multicast packets may cross")
    priority: int = Field(100, ge=0, le=200, description="E1.31 source priority; a receiver follows the highest")
    sync_address: int = Field(0, ge=0, le=63999, description="E1.31 synchronization universe (0: none)")
    source_name: Annotated[str, AfterValidator(_source_name)] | None = Field(
        None, description="the Source Name receivers show, at most 63 UTF-8 bytes (default: capturerig <output id>)")
    cid: Annotated[str, AfterValidator(_uuid_text)] | None = Field(
        None, description="the source's CID, a UUID (default: one per install, kept in "
                          "$XDG_CONFIG_HOME/capturerig/sacn-cid)")
    rate_hz: DmxRateHz = Field(MAX_DMX_RATE_HZ, description="frames per second per universe (at most 44)")
    keepalive_s: float = Field(
        SACN_KEEPALIVE_S, ge=0.0, le=_MAX_KEEPALIVE_S,
        description="resend an unchanged frame after this long (receivers drop a source after 2.5 s; 0: every tick)")
    realtime_priority: RealtimePriority | None = Field(
        None, description=f"SCHED_FIFO priority of the sender process (default {DEFAULT_REALTIME_PRIORITY}), so "
                          "a busy machine does not delay ticks; without CAP_SYS_NICE it warns and runs normally")


class SacnOutput(ProcessClockOutput):
    """A light output that streams its universes (1..63999) as E1.31 data packets.

    Parameters
    ----------
    config : LightOutputConfig
        ``universes`` are sACN universes; ``params`` as :class:`SacnParams`.
    context : DriverContext
        Its rig is the params' validation context.

    Raises
    ------
    DeviceError
        For a malformed param, universe 0, or an unreadable CID file (the message names it).
    """

    Params = SacnParams

    def __init__(self, config: LightOutputConfig, context: DriverContext) -> None:
        self._id = config.id
        bad = [u for u in config.universes if not 1 <= u <= 63999]
        if bad:
            raise DeviceError(config.id, f"sACN universes are 1..63999, got {', '.join(map(str, bad))}",
                              "renumber the output's universes (universe 0 is reserved in E1.31)")
        params = SacnParams.of(config, context.rig)
        self.host = params.host
        self.port = params.port
        self.bind_host = params.bind_host
        self.multicast = params.multicast
        self.multicast_interface = params.multicast_interface
        self.multicast_ttl = params.multicast_ttl
        self.priority = params.priority
        self.sync_address = params.sync_address
        self.source_name = f"capturerig {config.id}" if params.source_name is None else params.source_name
        self.cid = self._cid(params.cid)
        self.keepalive_s = params.keepalive_s  # an unchanged frame is resent after this long (0: every tick)
        spec = {"kind": "sacn", "host": self.host, "port": self.port, "bind_host": self.bind_host,
                "multicast": self.multicast, "multicast_interface": self.multicast_interface,
                "multicast_ttl": self.multicast_ttl, "priority": self.priority, "sync_address": self.sync_address,
                "source_name": self.source_name, "cid": self.cid.hex(), "terminate_packets": TERMINATE_PACKETS}
        priority = params.realtime_priority
        self._clock = ProcessFrameClock(config.id, config.universes, spec, params.rate_hz,
                                        repeat_after_s=self.keepalive_s,
                                        realtime_priority=DEFAULT_REALTIME_PRIORITY if priority is None else priority)

    def _cid(self, value: str | None) -> bytes:
        """The CID the params give, else this install's (made and stored on first use)."""
        try:
            if value is not None:
                return uuid.UUID(value).bytes
            return install_cid().bytes
        except ValueError as exc:
            raise DeviceError(self.id, f"bad sACN CID: {exc}", "give params.cid as a UUID") from None
        except OSError as exc:
            raise DeviceError(self.id, f"cannot store this install's sACN CID: {exc}",
                              "set XDG_CONFIG_HOME to a writable folder or give params.cid") from None

