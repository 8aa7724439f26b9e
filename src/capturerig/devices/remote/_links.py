"""One AgentLink per host per process, shared by that host's cameras and closed with the last of them."""

from __future__ import annotations

import threading

from capturerig.devices.remote._link import AgentLink

__all__ = ["agent_link", "release_link"]

_lock = threading.Lock()
_links: dict[tuple[str, str], tuple[AgentLink, int]] = {}  # (host, url) -> link, cameras using it


def agent_link(host: str, url: str, token: str | None, dead_after_s: float = 3.0) -> AgentLink:
    """The link to ``host`` at ``url`` (made on first use); pair every call with :func:`release_link`."""
    with _lock:
        link, users = _links.get((host, url), (None, 0))
        if link is None:
            link = AgentLink(host, url, token, dead_after_s)
        _links[(host, url)] = (link, users + 1)
        return link


def release_link(link: AgentLink) -> None:
    """One camera less on ``link``; the last closes it."""
    with _lock:
        key = (link.host, link.url)
        entry = _links.get(key)
        if entry is None or entry[0] is not link:
            return
        users = entry[1] - 1
        if users > 0:
            _links[key] = (link, users)
            return
        del _links[key]
    link.close()
