"""``capturerig agent``: serve one capture host's cameras to the controller over the agent link."""

from __future__ import annotations

import contextlib
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from capturerig.agent import AgentRefused, serve_agent
from capturerig.cli._output import BAD_INPUT, console, load_rig_or_studio
from capturerig.cli._output import fail as _fail
from capturerig.config import ConfigError
from capturerig.engine import capturerig_version

__all__ = ["agent"]

# The GIL's hand-over interval in an agent process (CPython's default is 5 ms). The link's event loop shares the
# GIL with every camera's download thread; as a take's files come in together it waited up to one interval per
# hand-over, most of a command's round trip in a session (measured on 2 cores, 4 and 8 agents: p99 ~20 -> ~16 ms).
AGENT_SWITCH_INTERVAL_S = 0.001


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM stops an agent as Ctrl-C does: the spool is durable either way


def agent(
        host: Annotated[str, typer.Option("--host", help="this host's name in the rig's hosts: section")],
        rig: Annotated[Path | None, typer.Option("--rig", help="rig file (the controller's)")] = None,
        token_file: Annotated[Path | None, typer.Option(help="the host's token (default: its token_file in the rig)")]
        = None,
        spool: Annotated[Path, typer.Option(help="where this host keeps files until the controller holds them")]
        = Path("spool"),
        port: Annotated[int | None, typer.Option(help="port to listen on (default: the host's port in the rig)")]
        = None,
        keep_acknowledged: Annotated[bool | None, typer.Option(
            "--keep-acknowledged/--no-keep-acknowledged",
            help="keep files the controller holds as local copies for post-capture work on this host, deleted "
                 "oldest first when the reserve needs the room (default: the host's keep_acknowledged, on)")]
        = None,
) -> None:
    """Serve the cameras attached to this host (the rig's hosts: entry) until Ctrl-C."""
    sys.setswitchinterval(AGENT_SWITCH_INTERVAL_S)
    loaded = load_rig_or_studio(rig)
    try:
        entry = loaded.config.host(host)
        if token_file is not None:
            token: str | None = token_file.read_text(encoding="utf-8").strip() or None
        else:
            token = entry.read_token(loaded.path.parent)
        server = serve_agent(loaded, host, token, spool, capturerig_version(), port, keep_acknowledged)
    except KeyError as exc:
        raise _fail(str(exc.args[0]) if exc.args else str(exc), BAD_INPUT) from exc
    except (AgentRefused, ConfigError, OSError) as exc:
        raise _fail(str(exc), BAD_INPUT) from exc
    kept = "keeps acknowledged files" if server.agent.spool.keep_acknowledged else "deletes acknowledged files"
    console.print(f"agent {host}: {server.url}, {len(entry.cameras)} cameras, spool {spool / host} ({kept}) "
                  f"(boot {server.agent.boot_id[:8]}; Ctrl-C to stop)", highlight=False)
    signal.signal(signal.SIGTERM, _stop)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how the technician stops an agent: not an error
        server.wait()
    server.close()
    console.print(f"agent {host} stopped")
