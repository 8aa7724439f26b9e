"""The studio bus's settings and datagrams: one JSON object per UDP datagram, validated on arrival.

Every message carries the bus version ``v``, the studio ``key`` (publishers and mirrors of different keys
ignore each other, so two rigs or two test runs on one machine never cross), the publisher's boot id ``src``
and its number ``n`` (0, 1, 2 ... per boot, in send order). Times are ``time.time()`` seconds, so hosts with
synchronised clocks agree on them; durations are wall seconds (the publisher's time scale already applied).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from capturerig.config import RigConfig

__all__ = [
    "BUS_VERSION",
    "DEFAULT_GROUP",
    "DEFAULT_INTERFACE",
    "DEFAULT_PORT",
    "BusMessage",
    "BusMessageError",
    "BusSettings",
    "MotionMessage",
    "PulseMessage",
    "SceneMessage",
    "StateMessage",
    "bus_settings",
    "decode",
    "encode",
]

BUS_VERSION = 1
DEFAULT_GROUP = "239.255.90.1"  # organisation-local scope (RFC 2365), clear of sACN's 239.255.0.0/16 universes
DEFAULT_PORT = 5690
DEFAULT_INTERFACE = "127.0.0.1"
_KEYS = ("group", "port", "interface", "key")


@dataclass(frozen=True)
class BusSettings:
    """Where a studio's bus runs (``simulation.studio_bus`` of the rig) and which studio it carries."""

    group: str
    port: int
    interface: str  # the local address whose interface sends and joins the group
    key: str


def bus_settings(rig: RigConfig, studio_name: str) -> BusSettings:
    """The bus of studio ``studio_name`` as ``rig.simulation.studio_bus`` says (defaults for what it omits).

    The default key is the rig's name, the studio's name and the rig's hosts (name, address, port), so
    the controller and the agents of one rig file share a bus while another rig's (or another test's) does not.

    Raises
    ------
    ValueError
        For an unknown key, a group that is not IPv4 multicast, a port outside 1..65535 or an interface that
        is not an IPv4 address; the message names the rig and the field.
    """
    where = f"rig '{rig.name}' simulation.studio_bus"
    raw: Any = rig.simulation.get("studio_bus") or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: must be a mapping ({', '.join(_KEYS)}), got {raw!r}")
    unknown = sorted(set(raw) - set(_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown key {', '.join(map(repr, unknown))} (known: {', '.join(_KEYS)})")
    group = str(raw.get("group", DEFAULT_GROUP))
    interface = str(raw.get("interface", DEFAULT_INTERFACE))
    try:
        if not ipaddress.IPv4Address(group).is_multicast:
            raise ValueError(f"{where}.group: {group} is not a multicast address (use 239.255.x.y)")
        ipaddress.IPv4Address(interface)
    except ipaddress.AddressValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    port = raw.get("port", DEFAULT_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"{where}.port: must be a whole number 1..65535, got {port!r}")
    key = raw.get("key")
    if key is None:
        hosts = ",".join(f"{host.name}@{host.address}:{host.port}" for host in rig.hosts)
        key = f"{rig.name}/{studio_name}/{hosts}"
    if not isinstance(key, str) or not key:
        raise ValueError(f"{where}.key: must be a non-empty string, got {key!r}")
    return BusSettings(group, port, interface, key)


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1] = 1  # BUS_VERSION
    key: str
    src: str = Field(min_length=1)
    n: int = Field(ge=0)


class PulseMessage(_Message):
    """A trigger pulse on the cables: the cameras wired to the fired ports, and the stage at that instant."""

    kind: Literal["pulse"] = "pulse"
    cameras: tuple[str, ...]
    at: float  # time.time() of the pulse
    deg: float  # the table angle at the pulse (what every exposure of it shows)
    subject: bool
    room: float = Field(ge=0.0)


class MotionMessage(_Message):
    """The table starts turning (or is put at an angle: ``duration`` 0 and ``from_deg == to_deg``)."""

    kind: Literal["motion"] = "motion"
    from_deg: float
    to_deg: float
    start: float  # time.time() when it starts
    duration: float = Field(ge=0.0)


class SceneMessage(_Message):
    """The operator changed the stage: the subject stepped on or off, the house lights changed."""

    kind: Literal["scene"] = "scene"
    subject: bool
    room: float = Field(ge=0.0)


class StateMessage(_Message):
    """The whole mirrored state, every second: a mirror that started late or lost a message catches up."""

    kind: Literal["state"] = "state"
    from_deg: float
    to_deg: float
    start: float
    duration: float = Field(ge=0.0)
    subject: bool
    room: float = Field(ge=0.0)


BusMessage = PulseMessage | MotionMessage | SceneMessage | StateMessage
_ADAPTER: TypeAdapter[BusMessage] = TypeAdapter(Annotated[BusMessage, Field(discriminator="kind")])


class BusMessageError(ValueError):
    """A datagram that is not a valid bus message; the message says what is wrong."""


def encode(message: BusMessage) -> bytes:
    """The datagram for ``message`` (compact JSON)."""
    return message.model_dump_json().encode()


def decode(data: bytes) -> BusMessage:
    """The message in ``data``.

    Raises
    ------
    BusMessageError
        When ``data`` is not JSON, names an unknown kind or version, or a field is missing or malformed.
    """
    try:
        return _ADAPTER.validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "message"
        raise BusMessageError(f"{where}: {first['msg']}") from None
