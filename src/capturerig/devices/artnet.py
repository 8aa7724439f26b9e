"""Art-Net 4 light output: ArtDmx over UDP from one sender clock, ArtSync, and ArtPoll discovery.

Rig params (all optional): :class:`ArtNetParams`.

The ArtDmx packets (with their sequence counters) and ArtSync are built and sent by a sender process
(:class:`~capturerig.devices._sender_process.ProcessFrameClock`), so the controller's threads never delay
a tick. Outside ArtSync mode a changed frame leaves at once when its universe has been quiet for a period.
"""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass

from pydantic import Field

from capturerig.config import MAX_DMX_RATE_HZ, LightOutputConfig
from capturerig.devices._artnet_packets import (
    ARTNET_PORT,
    ArtNetPacketError,
    ArtPollReply,
    build_artpoll,
    parse_artnet,
)
from capturerig.devices._params import DmxRateHz, DriverParams, IPv4Host, RealtimePriority
from capturerig.devices._process_output import ProcessClockOutput
from capturerig.devices._registry import DriverContext
from capturerig.devices._sender_process import DEFAULT_REALTIME_PRIORITY, ProcessFrameClock

__all__ = ["ARTNET_KEEPALIVE_S", "ArtNetOutput", "ArtNetParams", "DiscoveredNode", "discover_artnet_nodes"]

log = logging.getLogger(__name__)
ARTNET_KEEPALIVE_S = 2.0  # well inside Art-Net's 4 s, so one late tick on a busy machine does not matter
_MAX_KEEPALIVE_S = 4.0


class ArtNetParams(DriverParams):
    """An Art-Net output's rig params (``driver: artnet``)."""

    host: IPv4Host = Field("127.0.0.1", description="the node's IPv4 address; a broadcast address with "
                                                    "broadcast: true")
    port: int = Field(ARTNET_PORT, ge=1, le=65535, description="the node's UDP port")
    bind_host: IPv4Host = Field("0.0.0.0", description="the local IPv4 address to send from")
    broadcast: bool = Field(False, description="host is a broadcast address (the socket may broadcast)")
    sync: bool = Field(False, description="send ArtSync after each tick, so a node outputs all universes together")
    physical: int = Field(0, ge=0, le=255, description="the ArtDmx Physical field (the sender's DMX port)")
    rate_hz: DmxRateHz = Field(MAX_DMX_RATE_HZ, description="frames per second per universe (at most 44)")
    keepalive_s: float = Field(
        ARTNET_KEEPALIVE_S, ge=0.0, le=_MAX_KEEPALIVE_S,
        description="resend an unchanged frame after this long (Art-Net wants one every 4 s; 0: every tick)")
    realtime_priority: RealtimePriority | None = Field(
        None, description=f"SCHED_FIFO priority of the sender process (default {DEFAULT_REALTIME_PRIORITY}), so "
                          "a busy machine does not delay ticks; without CAP_SYS_NICE it warns and runs normally")


class ArtNetOutput(ProcessClockOutput):
    """A light output that sends its universes (15-bit Port-Addresses) as ArtDmx to one node.

    Parameters
    ----------
    config : LightOutputConfig
        ``universes`` are Art-Net Port-Addresses (0..32767); ``params`` as :class:`ArtNetParams`.
    context : DriverContext
        Its rig is the params' validation context.

    Raises
    ------
    DeviceError
        For a malformed param (the message names it).
    """

    Params = ArtNetParams

    def __init__(self, config: LightOutputConfig, context: DriverContext) -> None:
        params = ArtNetParams.of(config, context.rig)
        self._id = config.id
        self.host = params.host
        self.port = params.port
        self.bind_host = params.bind_host
        self.broadcast = params.broadcast
        self.sync = params.sync
        self.physical = params.physical
        self.keepalive_s = params.keepalive_s  # an unchanged frame is resent after this long (0: every tick)
        spec = {"kind": "artnet", "host": self.host, "port": self.port, "bind_host": self.bind_host,
                "broadcast": self.broadcast, "physical": self.physical, "sync": self.sync}
        priority = params.realtime_priority
        self._clock = ProcessFrameClock(config.id, config.universes, spec, params.rate_hz,
                                        repeat_after_s=self.keepalive_s, immediate=not self.sync,
                                        realtime_priority=DEFAULT_REALTIME_PRIORITY if priority is None else priority)



@dataclass(frozen=True)
class DiscoveredNode:
    """A node that answered ArtPoll: the address it answered from and what it said."""

    address: tuple[str, int]
    reply: ArtPollReply


def discover_artnet_nodes(bind_host: str = "0.0.0.0", timeout_s: float = 2.0,
                          broadcast_to: str = "255.255.255.255", port: int = ARTNET_PORT) -> list[DiscoveredNode]:
    """Send one ArtPoll and collect the ArtPollReply packets that arrive within ``timeout_s``.

    Parameters
    ----------
    bind_host : str
        Local address to send from (replies come back to it).
    timeout_s : float
        How long to listen for replies.
    broadcast_to : str
        Where the ArtPoll goes: the subnet's broadcast address, or one node's address.
    port : int
        The nodes' Art-Net port.

    Returns
    -------
    list of DiscoveredNode
        One per node and bind index, in order of arrival. Packets that are not ArtPollReply are ignored.

    Raises
    ------
    OSError
        When the socket cannot be opened or the poll cannot be sent.
    """
    nodes: dict[tuple[str, int], DiscoveredNode] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.bind((bind_host, 0))
        sock.sendto(build_artpoll(), (broadcast_to, port))
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data, address = sock.recvfrom(2048)
            except TimeoutError:
                break
            try:
                reply = parse_artnet(data)
            except ArtNetPacketError as exc:
                log.info("ignored a malformed reply from %s: %s", address[0], exc)
                continue
            if isinstance(reply, ArtPollReply):
                nodes.setdefault((reply.ip, reply.bind_index), DiscoveredNode((address[0], address[1]), reply))
    return list(nodes.values())
