"""What a panel server serves: its rigs, its storage roots, where it binds and the token it may require."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["InsecureBinding", "WebSettings", "is_loopback", "new_token"]

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class InsecureBinding(ValueError):
    """The panel would listen beyond this machine without a token; the message says how to give one."""


def is_loopback(host: str) -> bool:
    """True for addresses (and names) that only this machine can reach: 127.0.0.0/8, ::1, localhost."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe) for a panel that listens beyond this machine."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class WebSettings:
    """Everything a panel server needs to know; :meth:`check` refuses an unsafe combination.

    Parameters
    ----------
    rigs
        Rig files the panel offers (``None`` stands for the embedded simulated studio); the first is the default.
    sessions_dir
        Storage root of sessions: new sessions go here, and session files are served only from below it.
    packages_dir
        Storage root of training packages: built here, served only from below it.
    host, port
        Where to listen; only a loopback address may go without a token.
    token
        Required on every request (header, cookie or ``?token=``) when set.
    cache_dir
        Where thumbnails are cached (default: a folder under ``sessions_dir``'s parent made per server).
    client_queue_size
        Events kept per WebSocket client; a slower client loses the oldest (and is told how many).
    extra_plans
        Plan files offered besides those in each rig's folder and the embedded demo plan.
    registry
        The studio's subject registry (consent); None: the engine's default (``$CAPTURERIG_REGISTRY`` or the
        rig's storage root).
    calibration_dir
        Where accepted calibrations live, ``<dir>/<rig>/geometry.json`` and ``colour.json`` (default:
        ``calibration`` beside the sessions folder); packages built from the panel use them.
    purpose
        The use each subject's consent must cover for sessions started here (``capture``; the demo: ``demo``).
    """

    rigs: tuple[Path | None, ...]
    sessions_dir: Path
    packages_dir: Path
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    cache_dir: Path | None = None
    client_queue_size: int = 256
    extra_plans: tuple[Path, ...] = field(default=())
    registry: Path | None = None
    calibration_dir: Path | None = None
    purpose: str = "capture"

    def check(self) -> None:
        """Raise :class:`InsecureBinding` for a non-loopback address without a token, ValueError for bad values."""
        if not is_loopback(self.host) and not self.token:
            raise InsecureBinding(
                f"refusing to serve on {self.host}: the panel controls lights and cameras and shows images of "
                "people, so any address other than 127.0.0.1 needs a token (--token TOKEN; "
                f"e.g. --token {new_token()})")
        if self.token is not None and len(self.token) < 16:
            raise InsecureBinding("the token must have at least 16 characters (use a generated one)")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is outside 0..65535")
        if self.client_queue_size < 1:
            raise ValueError("client_queue_size must be at least 1")
