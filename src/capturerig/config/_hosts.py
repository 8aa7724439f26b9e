"""The rig's capture hosts (``hosts:``) and the agent link's timing (``agent_link:``), with their load checks.

One controller owns the lights, the trigger box and the turntable; each capture host runs ``capturerig agent``
for the cameras physically attached to it. A rig without ``hosts:`` runs every camera on the controller.
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, ValidationInfo, field_validator

from capturerig.config._base import FrozenModel
from capturerig.config._errors import ConfigError, ConfigProblem
from capturerig.config._validation import RIG_ID_PATTERN
from capturerig.config._yaml import LocatedDocument

if TYPE_CHECKING:
    from capturerig.config._rig import RigConfig

__all__ = ["DEFAULT_AGENT_PORT", "MIN_TOKEN_LENGTH", "AgentLinkSettings", "HostConfig", "check_hosts"]

DEFAULT_AGENT_PORT = 8650
MIN_TOKEN_LENGTH = 16  # shorter tokens can be guessed over a LAN; token_urlsafe(24) gives 32 characters


class HostConfig(FrozenModel):
    """One capture host: where its agent listens and which cameras are cabled to it."""

    name: str = Field(pattern=RIG_ID_PATTERN, description="the host's name (capturerig agent --host NAME)")
    address: str = Field(description="the agent's dotted IPv4 address, e.g. 192.168.10.11 (no host names)")
    port: int = Field(DEFAULT_AGENT_PORT, ge=1, le=65535, description="the agent's TCP port")
    cameras: tuple[str, ...] = Field(min_length=1, description="ids of the cameras physically attached to this host")
    token_file: str | None = Field(
        None, description="file holding the agent's token, relative to the rig file's folder (required off loopback)")
    keep_acknowledged: bool = Field(
        True, description="keep files the controller acknowledged as local copies on this host (deleted oldest first "
                          "when the spool's reserve needs the room), so post-capture tasks here read them locally")

    @field_validator("address")
    @classmethod
    def _dotted_ipv4(cls, value: str) -> str:
        try:
            address = ipaddress.IPv4Address(value)
        except ValueError:
            # A name would make every command wait on DNS, and a failing resolver would look like a dead agent.
            raise ValueError(f"{value!r} is not a dotted IPv4 address such as 192.168.10.11; give the host's "
                             "address, not its name (the agent link must not wait on DNS)") from None
        if address.is_unspecified or address.is_multicast or address == ipaddress.IPv4Address("255.255.255.255"):
            raise ValueError(f"{value} is not one host's address; give the address the controller reaches the "
                             "agent at")
        return value

    @property
    def url(self) -> str:
        """The agent's base URL, ``http://address:port``."""
        return f"http://{self.address}:{self.port}"

    @property
    def loopback(self) -> bool:
        """Whether the agent listens on this machine only (127.0.0.0/8), where it may run without a token."""
        return ipaddress.IPv4Address(self.address).is_loopback

    def read_token(self, base_dir: Path) -> str | None:
        """The host's token from ``token_file`` (surrounding whitespace stripped), or None without one.

        Parameters
        ----------
        base_dir : Path
            The rig file's folder, which a relative ``token_file`` means.

        Raises
        ------
        ConfigError
            Naming the host and the file, when the file is missing, unreadable, or its token is shorter than
            16 characters.
        """
        if self.token_file is None:
            return None
        path = base_dir / self.token_file
        fix = (f"write at least {MIN_TOKEN_LENGTH} random characters to it, e.g. "
               f"python -c 'import secrets; print(secrets.token_urlsafe(24))' > {path}")
        try:
            token = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise ConfigError.single(path, f"host '{self.name}': its token_file does not exist; {fix}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError.single(path, f"host '{self.name}': cannot read its token_file ({exc})") from exc
        if len(token) < MIN_TOKEN_LENGTH:
            raise ConfigError.single(path, f"host '{self.name}': its token has {len(token)} characters, fewer "
                                           f"than {MIN_TOKEN_LENGTH}; {fix}")
        return token


class AgentLinkSettings(FrozenModel):
    """How the controller and the agents keep track of each other."""

    heartbeat_s: float = Field(1.0, ge=0.1, le=10.0, description="how often an agent says it is alive, seconds")
    dead_after_s: float = Field(
        3.0, gt=0.0, le=60.0, validate_default=True,
        description="silence after which an agent is dead and its cameras' take incomplete, seconds")
    max_clock_offset_ms: float = Field(
        5.0, gt=0.0, description="preflight refuses a host whose clock is further than this from the controller's")
    spool_reserve_bytes: int = Field(
        2_000_000_000, ge=0, description="disk an agent keeps free: below it, it refuses to arm its cameras")

    @field_validator("dead_after_s")
    @classmethod
    def _above_heartbeat(cls, value: float, info: ValidationInfo) -> float:
        heartbeat = info.data.get("heartbeat_s")  # absent when heartbeat_s itself was refused
        if heartbeat is not None and value <= heartbeat:
            raise ValueError(f"{value:g} s must be above heartbeat_s ({heartbeat:g} s): an agent counts as dead "
                             "only after it has missed heartbeats; raise dead_after_s or lower heartbeat_s")
        return value


def _some(ids: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f", ... ({len(ids)} in all)" if len(ids) > limit else "")


def _unknown_camera(camera_id: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(camera_id, known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"the rig has no camera '{camera_id}' ({hint}cameras: {_some(known)})"


def _host_identity_problems(rig: RigConfig, doc: LocatedDocument) -> list[ConfigProblem]:
    """Unique names, unique address:port, and a token file wherever the agent is reachable off this machine."""
    problems: list[ConfigProblem] = []
    names: dict[str, int] = {}
    endpoints: dict[tuple[str, int], int] = {}
    for index, host in enumerate(rig.hosts):
        if host.name in names:
            first = names[host.name]
            problems.append(doc.problem(("hosts", index, "name"), (
                f"duplicate host name '{host.name}' (first at hosts[{first}], line "
                f"{doc.line_of(('hosts', first, 'name'))}); names must be unique")))
        names.setdefault(host.name, index)
        endpoint = (host.address, host.port)
        if endpoint in endpoints:
            first = endpoints[endpoint]
            problems.append(doc.problem(("hosts", index, "address"), (
                f"host '{host.name}' listens on {host.address}:{host.port} like host '{rig.hosts[first].name}' "
                f"(hosts[{first}], line {doc.line_of(('hosts', first))}); each agent needs its own address:port")))
        endpoints.setdefault(endpoint, index)
        if not host.loopback and host.token_file is None:
            problems.append(doc.problem(("hosts", index, "token_file"), (
                f"host '{host.name}' is at {host.address}, not loopback, and has no token_file: an agent on a "
                "non-loopback address refuses to start without a token; give token_file (a file beside the "
                f"rig holding at least {MIN_TOKEN_LENGTH} random characters)")))
    return problems


def check_hosts(rig: RigConfig, doc: LocatedDocument) -> list[ConfigProblem]:
    """Every camera the hosts name exists and is on exactly one host; host names and endpoints are unique.

    A rig without hosts (or with ``hosts: []``) runs every camera on the controller and is not checked.
    """
    if not rig.hosts:
        return []
    problems = _host_identity_problems(rig, doc)
    known = [camera.id for camera in rig.cameras]
    owner: dict[str, tuple[int, int]] = {}  # camera id -> (host index, index in its cameras)
    for index, host in enumerate(rig.hosts):
        for k, camera_id in enumerate(host.cameras):
            where = ("hosts", index, "cameras", k)
            if camera_id not in known:
                problems.append(doc.problem(where, _unknown_camera(camera_id, known)))
                continue
            if camera_id in owner:
                first, first_k = owner[camera_id]
                line = doc.line_of(("hosts", first, "cameras", first_k))
                other = rig.hosts[first].name
                said = (f"is listed twice for host '{host.name}' (also line {line})" if first == index else
                        f"is on host '{other}' (hosts[{first}], line {line}) and on host '{host.name}' "
                        f"(hosts[{index}])")
                problems.append(doc.problem(where, f"camera '{camera_id}' {said}; a camera is cabled to exactly "
                                                   "one host: remove it from the other"))
                continue
            owner[camera_id] = (index, k)
    for index, camera_id in enumerate(known):
        if camera_id not in owner:
            problems.append(doc.problem(("cameras", index, "id"), (
                f"camera '{camera_id}' is on no host; with a hosts: section every camera must be in exactly one "
                f"host's cameras (hosts: {', '.join(dict.fromkeys(h.name for h in rig.hosts))})")))
    return problems
