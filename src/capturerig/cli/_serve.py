"""``capturerig serve``: the web panel for studio technicians (and the end of ``capturerig demo``)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from capturerig.cli._output import BAD_INPUT, console, load_rig_or_studio
from capturerig.cli._output import fail as _fail
from capturerig.config import ConfigError
from capturerig.subjects import CAPTURE_PURPOSE
from capturerig.web import InsecureBinding, PanelServer, WebSettings, create_app, is_loopback, new_token

__all__ = ["DEFAULT_PORT", "serve", "serve_demo", "serve_panel"]

DEFAULT_PORT = 8765


def serve_panel(settings: WebSettings, fallback_port: bool = False) -> None:
    """Serve ``settings`` in the foreground until Ctrl-C, after printing the panel's address.

    With ``fallback_port`` a taken port is replaced by a free one (the demo); otherwise it is an error.
    Raises typer.Exit with a message for an unsafe binding, a bad rig or a taken port.
    """
    try:
        app = create_app(settings)
    except (InsecureBinding, ConfigError, FileNotFoundError) as exc:
        raise _fail(str(exc), BAD_INPUT) from exc
    try:
        server = PanelServer(app, settings.host, settings.port)
    except OSError as exc:
        if not fallback_port:
            raise _fail(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc} "
                        "(choose another --port)", BAD_INPUT) from exc
        server = PanelServer(app, settings.host, 0)
    address = server.url + (f"/?token={settings.token}" if settings.token else "/")
    console.print(f"panel: {address}  (sessions in {settings.sessions_dir}, packages in {settings.packages_dir}; "
                  "Ctrl-C to stop)", highlight=False)
    if not server.local_only:
        console.print("[yellow]the panel listens beyond this machine: every request needs the token above")
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a technician stops the panel: not an error
        server.run()
    console.print("panel stopped")


def serve(
        rig: Annotated[list[Path] | None, typer.Option("--rig", help="rig file (repeat for more rigs; default: the "
                                                                    "simulated studio)")] = None,
        host: Annotated[str, typer.Option(help="address to listen on; anything but loopback needs a token")]
        = "127.0.0.1",
        port: Annotated[int, typer.Option(help="port to listen on")] = DEFAULT_PORT,
        token: Annotated[str | None, typer.Option(help="token every request must carry (generated and printed "
                                                       "when --host is not loopback)")] = None,
        sessions: Annotated[Path | None, typer.Option(help="sessions storage root (default: the rig's "
                                                           "storage.root)")] = None,
        packages: Annotated[Path | None, typer.Option(help="packages storage root (default: 'packages' beside "
                                                           "the sessions)")] = None,
        registry: Annotated[Path | None, typer.Option(help="subject registry (default: $CAPTURERIG_REGISTRY or "
                                                           "the storage root's subjects.sqlite)")] = None,
        purpose: Annotated[str, typer.Option(help="the use subjects' consent must cover")] = CAPTURE_PURPOSE,
) -> None:
    """Serve the web panel: devices, preflight, sessions with a live contact sheet, lights, calibration, packages."""
    rigs: tuple[Path | None, ...] = tuple(rig) if rig else (None,)
    try:
        first = load_rig_or_studio(rigs[0])
    except ConfigError as exc:
        raise _fail(str(exc), BAD_INPUT) from exc
    sessions_dir = (sessions or Path(first.config.storage.root)).absolute()
    if token is None and not is_loopback(host):
        token = new_token()
        console.print(f"generated a token for {host} (keep it private): {token}", highlight=False)
    settings = WebSettings(rigs=rigs, sessions_dir=sessions_dir,
                           packages_dir=(packages or sessions_dir.parent / "packages").absolute(),
                           host=host, port=port, token=token, registry=registry, purpose=purpose)
    serve_panel(settings)


def serve_demo(out: Path, registry: Path | None, purpose: str) -> None:
    """The demo's last step: the panel on the demo's own sessions, packages and registry (Ctrl-C stops it)."""
    settings = WebSettings(rigs=(None,), sessions_dir=(out / "sessions").absolute(),
                           packages_dir=(out / "packages").absolute(), port=DEFAULT_PORT, registry=registry,
                           purpose=purpose)
    serve_panel(settings, fallback_port=True)
