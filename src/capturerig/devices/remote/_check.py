"""Preflight of the capture hosts: each agent reachable, the same release, its clock close, its disk free.

A host that fails any of these is refused before a take starts, naming the host and what to do.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from capturerig.config import ConfigError, HostConfig, RigConfig
from capturerig.devices.protocols import DeviceError
from capturerig.devices.remote._links import agent_link, release_link
from capturerig.devices.remote._wire import Hello, SpoolPlace

__all__ = ["HostReport", "check_hosts"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HostReport:
    """What one host's agent said at preflight, and the problem that refuses it (None: good to go)."""

    host: str
    url: str
    problem: str | None
    hello: Hello | None = None
    clock_offset_ms: float | None = None
    round_trip_ms: float | None = None
    spool: SpoolPlace | None = None  # where the host keeps its files (None: an agent too old to say)

    @property
    def kept_files_dir(self) -> str | None:
        """The folder on the host where files the controller acknowledged stay (by spool file id), or None when
        the agent deletes them or did not say."""
        return self.spool.files_dir if self.spool is not None and self.spool.keep_acknowledged else None

    @property
    def detail(self) -> str:
        """One line for a table: version, clock, spool and cameras."""
        if self.hello is None:
            return self.problem or ""
        spool = self.hello.spool
        return (f"{self.url}, capturerig {self.hello.capturerig_version}, clock {self.clock_offset_ms:+.1f} ms "
                f"(round trip {self.round_trip_ms:.1f} ms), {len(self.hello.cameras)} cameras, spool "
                f"{spool.files} files / {spool.bytes / 1e6:.0f} MB waiting, {spool.free_bytes / 1e9:.1f} GB free")


def _check(rig: RigConfig, host: HostConfig, base_dir: Path, version: str, timeout_s: float) -> HostReport:
    try:
        token = host.read_token(base_dir)
    except ConfigError as exc:
        return HostReport(host.name, host.url, str(exc))
    link = agent_link(host.name, host.url, token, rig.agent_link.dead_after_s)
    try:
        hello = link.open(timeout_s)
        try:
            spool = link.spool_place(timeout_s)
        except DeviceError as exc:  # only post-capture locality is lost: no reason to refuse the host
            log.warning("host %s did not say where its spool is (%s); its files are developed from the session",
                        host.name, exc)
            spool = None
    except DeviceError as exc:
        return HostReport(host.name, host.url, f"host {host.name} at {host.url}: {exc.message}")
    finally:
        release_link(link)
    report = HostReport(host.name, host.url, None, hello, link.clock_offset_s * 1e3, link.round_trip_s * 1e3,
                        spool)
    bound_ms = rig.agent_link.max_clock_offset_ms
    problem = None
    if hello.capturerig_version != version:
        problem = (f"host {host.name} runs capturerig {hello.capturerig_version}, the controller {version} "
                   "(run the same release on every host)")
    elif hello.host != host.name:
        problem = f"the agent at {host.url} serves host {hello.host}, not {host.name} (check its --host)"
    elif sorted(hello.cameras) != sorted(host.cameras):
        missing = sorted(set(host.cameras) - set(hello.cameras))
        extra = sorted(set(hello.cameras) - set(host.cameras))
        problem = (f"host {host.name}'s agent serves other cameras than this rig says (missing {missing or '-'}, "
                   f"extra {extra or '-'}): start it with the same rig file")
    elif (abs(link.clock_offset_s) - link.round_trip_s / 2) * 1e3 > bound_ms:  # off by more, whatever the wire
        problem = (f"host {host.name}'s clock is {link.clock_offset_s * 1e3:+.1f} ms (+-{link.round_trip_s * 5e2:.1f})"
                   f" off the controller's (bound {bound_ms:g} ms): sync it to the controller (chrony)")
    elif hello.spool.free_bytes < hello.spool.reserve_bytes:
        problem = (f"host {host.name}'s spool disk is low: {hello.spool.free_bytes / 1e9:.1f} GB free, "
                   f"{hello.spool.reserve_bytes / 1e9:.1f} GB kept in reserve (it would refuse to arm)")
    return HostReport(report.host, report.url, problem, hello, report.clock_offset_ms, report.round_trip_ms, spool)


def check_hosts(rig: RigConfig, base_dir: Path, version: str, timeout_s: float) -> list[HostReport]:
    """Every host of the rig checked at once (in rig order); ``version`` is the controller's release."""
    if not rig.hosts:
        return []
    with ThreadPoolExecutor(max_workers=len(rig.hosts), thread_name_prefix="capturerig-hosts") as pool:
        return list(pool.map(lambda host: _check(rig, host, base_dir, version, timeout_s), rig.hosts))
