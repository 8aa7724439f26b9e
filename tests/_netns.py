"""A studio LAN for tests: one Linux network namespace per capture host, joined to the controller (this process,
in the root namespace) by a rate-limited veth link on a bridge.

Everything is made by this module and removed by it, even when a step or the test fails: the namespaces (named
``capturerig-<pid>-<counter>-<host>``, so parallel pytest-xdist workers never collide), their veth pairs and
the bridge (only a SIGKILLed pytest leaves them behind: the pid in the names says whose they are). The
addresses are a private 10.250.N.0/24 that exists only on these links, so nothing leaves the machine; N is
claimed by creating the bridge ``crlanN`` (creation fails if another worker holds it).

Multicast (the simulated studio bus, the lights' sACN) finds its way by routes: 224.0.0.0/4 via the veth inside
each namespace, and in the root namespace one /32 route per group the test uses (:meth:`StudioLan.route_multicast`)
-- not 224.0.0.0/4 there, which would pull the machine's other multicast onto the test bridge and collide with
a parallel worker's own bridge.
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["NetnsError", "NetnsHost", "StudioLan", "netns_unavailable_reason", "studio_lan"]

_SUBNETS = range(1, 255)  # N of 10.250.N.0/24
_BRIDGE_PREFIX = "crlan"  # + N: at most 15 characters, as every interface name
_HOST_NIC = "lan0"  # the host's end of its veth, inside its namespace
_COMMAND_TIMEOUT_S = 20.0
_counter = itertools.count()


class NetnsError(RuntimeError):
    """A step of building or removing the test LAN failed; the message has the command and what it said."""


@dataclass(frozen=True)
class NetnsHost:
    """One capture host: its namespace, its address there, and the root end of its link (down cuts it off)."""

    name: str
    namespace: str
    address: str
    link: str


@dataclass
class StudioLan:
    """The test LAN: the bridge the controller sits on and one namespaced host per name."""

    index: int  # N of 10.250.N.0/24: unique among the LANs alive on this machine
    bridge: str
    controller_address: str
    hosts: dict[str, NetnsHost] = field(default_factory=dict)
    shaping: list[str] = field(default_factory=list)  # what tc does on each link, said in the test's output

    def command_in(self, host: str, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside ``host``'s namespace."""
        return ["ip", "netns", "exec", self.hosts[host].namespace, *argv]

    def set_link(self, host: str, up: bool) -> None:
        """Bring ``host``'s link down (as a pulled cable: both ends lose carrier) or up again."""
        _run("ip", "link", "set", self.hosts[host].link, "up" if up else "down")

    def operstate(self, host: str) -> str:
        """The state of the root end of ``host``'s link as the kernel says it (``up``, ``down`` ...)."""
        return Path(f"/sys/class/net/{self.hosts[host].link}/operstate").read_text().strip()

    def route_multicast(self, group: str) -> None:
        """Send (and join) multicast ``group`` over the bridge from the root namespace, where the socket names
        no interface (0.0.0.0); the route goes with the bridge."""
        if not ipaddress.IPv4Address(group).is_multicast:
            raise ValueError(f"{group} is not a multicast address")
        _run("ip", "route", "add", f"{group}/32", "dev", self.bridge)


def _run(*argv: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=_COMMAND_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetnsError(f"`{' '.join(argv)}`: {exc}") from exc
    if done.returncode != 0:
        raise NetnsError(f"`{' '.join(argv)}` exited {done.returncode}: {(done.stderr or done.stdout).strip()}")
    return done.stdout


def _subnet_in_use(index: int) -> bool:
    subnet = ipaddress.IPv4Network(f"10.250.{index}.0/24")
    listed = _run("ip", "-4", "-o", "addr", "show") + _run("ip", "-4", "route", "show", "table", "all")
    for word in listed.split():
        try:
            if ipaddress.IPv4Network(word, strict=False).overlaps(subnet):
                return True
        except ValueError:
            continue
    return False


def _claim_bridge(cleanup: ExitStack) -> int:
    """Create the bridge of a free 10.250.N.0/24 and return N; the bridge's name is the claim."""
    first = os.getpid() % len(_SUBNETS)
    for offset in range(len(_SUBNETS)):
        index = _SUBNETS[(first + offset) % len(_SUBNETS)]
        if _subnet_in_use(index):
            continue
        bridge = f"{_BRIDGE_PREFIX}{index}"
        try:  # no snooping: without an IGMP querier it could stop forwarding a group the hosts joined
            _run("ip", "link", "add", "name", bridge, "type", "bridge", "mcast_snooping", "0")
        except NetnsError as exc:
            if "exists" in str(exc):
                continue  # another worker's LAN
            raise
        cleanup.callback(_run, "ip", "link", "del", bridge)
        return index
    raise NetnsError("no free 10.250.N.0/24 for a test LAN (every crlanN bridge or subnet is taken)")


def _shape(prefix: Sequence[str], device: str, rate: str, delay: str | None) -> str:
    """A tbf rate limit on ``device`` (egress), and netem's delay under it where the kernel has netem."""
    _run(*prefix, "tc", "qdisc", "add", "dev", device, "root", "handle", "1:", "tbf", "rate", rate,
         "burst", "256kb", "latency", "50ms")
    if delay is None:
        return f"tbf {rate}"
    try:
        _run(*prefix, "tc", "qdisc", "add", "dev", device, "parent", "1:1", "handle", "10:", "netem", "delay", delay)
    except NetnsError as exc:  # e.g. a kernel built without sch_netem
        return f"tbf {rate}, no netem delay ({str(exc).rsplit(': ', 1)[-1]})"
    return f"tbf {rate} + netem delay {delay}"


def _add_host(lan: StudioLan, cleanup: ExitStack, made: list[str], name: str, number: int, rate: str,
              delay: str | None) -> None:
    """Make host ``name`` (the ``number``-th) on ``lan``; its namespace is listed in ``made`` as soon as it
    exists, and removed by ``cleanup``."""
    namespace = f"capturerig-{os.getpid()}-{next(_counter)}-{name}"
    link = f"crv{lan.index}h{number}"
    address = f"10.250.{lan.index}.{number + 1}"
    _run("ip", "netns", "add", namespace)
    made.append(namespace)
    cleanup.callback(_run, "ip", "netns", "del", namespace)
    _run("ip", "link", "add", link, "type", "veth", "peer", "name", _HOST_NIC, "netns", namespace)
    # Deleting one end deletes the pair; done before the namespace goes, in case a process still holds it.
    cleanup.callback(_delete_link_if_present, link)
    _run("ip", "link", "set", link, "master", lan.bridge, "up")
    inside = ("ip", "netns", "exec", namespace)
    _run(*inside, "ip", "link", "set", "lo", "up")
    _run(*inside, "ip", "addr", "add", f"{address}/24", "dev", _HOST_NIC)
    _run(*inside, "ip", "link", "set", _HOST_NIC, "up")
    _run(*inside, "ip", "route", "add", "224.0.0.0/4", "dev", _HOST_NIC)
    lan.shaping.append(f"{name} to controller: {_shape(inside, _HOST_NIC, rate, delay)}")
    lan.shaping.append(f"controller to {name}: {_shape((), link, rate, delay)}")
    lan.hosts[name] = NetnsHost(name, namespace, address, link)


def _delete_link_if_present(link: str) -> None:
    try:
        _run("ip", "link", "del", link)
    except NetnsError as exc:
        if "Cannot find device" not in str(exc):  # gone already: its namespace took the pair with it
            raise


def _check_removed(namespaces: list[str]) -> None:
    listed = _run("ip", "netns", "list").split()
    left = [namespace for namespace in namespaces if namespace in listed]
    if left:
        raise NetnsError(f"namespaces left behind: {', '.join(left)}")


@contextmanager
def studio_lan(host_names: Sequence[str], rate: str = "200mbit", delay: str | None = "1ms") -> Iterator[StudioLan]:
    """A LAN with one namespaced host per name (addresses 10.250.N.2, .3 ... in order; the controller .1),
    each link limited to ``rate`` both ways, with netem ``delay`` where the kernel has netem (else
    :attr:`StudioLan.shaping` says why not). Everything is removed on leaving, whatever happened.

    Raises
    ------
    NetnsError
        When a step fails (the command and its error), or something made could not be removed.
    """
    namespaces: list[str] = []
    with ExitStack() as cleanup:
        cleanup.callback(_check_removed, namespaces)  # runs last
        index = _claim_bridge(cleanup)
        lan = StudioLan(index=index, bridge=f"{_BRIDGE_PREFIX}{index}", controller_address=f"10.250.{index}.1")
        _run("ip", "addr", "add", f"{lan.controller_address}/24", "dev", lan.bridge)
        _run("ip", "link", "set", lan.bridge, "up")
        for number, name in enumerate(host_names, start=1):
            _add_host(lan, cleanup, namespaces, name, number, rate, delay)
        yield lan


def netns_unavailable_reason() -> str | None:
    """Why the namespaced-hosts tier cannot run on this machine (not root, no ``ip``/``tc``, namespaces, veths,
    bridges or tbf refused ...), or None when it can: a one-host LAN is built and removed to find out."""
    if not sys.platform.startswith("linux"):
        return f"network namespaces are Linux only (this is {sys.platform})"
    if os.geteuid() != 0:
        return f"not root (uid {os.geteuid()}): creating network namespaces, veths and qdiscs needs root"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"`{tool}` (iproute2) not found on PATH"
    try:
        with studio_lan(["probe"], delay=None):
            pass
    except NetnsError as exc:
        return f"cannot build a namespaced test LAN here: {exc}"
    return None
