"""Starting an agent for one host of the rig: its cameras, its spool, its address and token."""

from __future__ import annotations

import ipaddress
import threading
import time
from pathlib import Path

import uvicorn

from capturerig.agent._agent import Agent, AgentSettings
from capturerig.agent._app import agent_app
from capturerig.config import LoadedRig

__all__ = ["AgentRefused", "AgentServer", "serve_agent"]

STARTUP_TIMEOUT_S = 10.0


class AgentRefused(RuntimeError):
    """The agent will not start as asked (no token off loopback, unknown host ...); the message says why."""


class AgentServer:
    """An agent served on its host's address in a background thread (``close`` stops it)."""

    def __init__(self, agent: Agent, server: uvicorn.Server, thread: threading.Thread) -> None:
        self.agent = agent
        self._server = server
        self._thread = thread

    @property
    def url(self) -> str:
        config = self._server.config
        return f"http://{config.host}:{config.port}"

    def wait(self) -> None:
        """Until the server stops (SIGINT/SIGTERM in the foreground)."""
        self._thread.join()

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5.0)
        self.agent.close()


def serve_agent(rig: LoadedRig, host: str, token: str | None, spool_dir: Path, version: str,
                port: int | None = None, keep_acknowledged: bool | None = None) -> AgentServer:
    """Start the agent of ``host`` (from the rig's ``hosts:``) on its address; ``keep_acknowledged`` None: as
    the host's entry says. Raises AgentRefused."""
    config = rig.config
    try:
        host_config = config.host(host)
    except KeyError as exc:
        raise AgentRefused(str(exc.args[0]) if exc.args else str(exc)) from None
    if token is None and not ipaddress.IPv4Address(host_config.address).is_loopback:
        raise AgentRefused(f"host {host} is at {host_config.address}, not loopback: an agent there needs a token "
                           "(give the rig's token_file for it, or --token-file)")
    settings = AgentSettings(host=host, cameras=tuple(host_config.cameras), spool_dir=spool_dir / host,
                             reserve_bytes=config.agent_link.spool_reserve_bytes,
                             heartbeat_s=config.agent_link.heartbeat_s,
                             keep_acknowledged=host_config.keep_acknowledged if keep_acknowledged is None
                             else keep_acknowledged)
    agent = Agent(rig, settings, version)
    server = uvicorn.Server(uvicorn.Config(agent_app(agent, token), host=host_config.address,
                                           port=host_config.port if port is None else port, log_level="warning",
                                           ws_ping_interval=None,  # the link's own heartbeat says who is alive
                                           ws_per_message_deflate=False,  # small events: deflate only costs CPU
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, name=f"capturerig-agent-{host}", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            agent.close()
            raise AgentRefused(f"host {host}: could not listen on {host_config.address}:{host_config.port} "
                               "(address in use, or not on this machine)")
        time.sleep(0.02)
    return AgentServer(agent, server, thread)
