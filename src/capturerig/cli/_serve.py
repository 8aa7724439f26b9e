"""``capturerig serve``: the web panel for studio technicians (and the end of ``capturerig demo``)."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from capturerig.cli._output import BAD_INPUT, console, load_rig_or_studio
from capturerig.cli._output import fail as _fail
from capturerig.cli._studio_folder import StudioFolder
from capturerig.config import ConfigError, LoadedRig
from capturerig.subjects import CAPTURE_PURPOSE
from capturerig.web import InsecureBinding, PanelServer, WebSettings, create_app, is_loopback, new_token

__all__ = ["DEFAULT_PORT", "panel_settings", "serve", "serve_demo", "serve_panel"]

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
        folder: Annotated[Path | None, typer.Argument(help="a studio folder (as `capturerig demo` writes it): its "
                                                           "sessions, packages, registry and purpose, no other "
                                                           "flag needed")] = None,
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
        purpose: Annotated[str | None, typer.Option(help="the use subjects' consent must cover (default: the studio "
                                                         f"folder's, else {CAPTURE_PURPOSE})")] = None,
) -> None:
    """Serve the web panel: devices, preflight, sessions with a live contact sheet, lights, calibration, packages."""
    try:
        settings = panel_settings(folder, tuple(rig) if rig else (None,), sessions, packages, registry, purpose)
    except (ConfigError, FileNotFoundError) as exc:
        raise _fail(str(exc), BAD_INPUT) from exc
    if token is None and not is_loopback(host):
        token = new_token()
        console.print(f"generated a token for {host} (keep it private): {token}", highlight=False)
    serve_panel(dataclasses.replace(settings, host=host, port=port, token=token))


def _first_loadable(rigs: tuple[Path | None, ...]) -> LoadedRig:
    """The first rig that loads: a rig file with an error does not stop the panel, which lists it with its
    problem on the dashboard and serves the others. Raises the first one's error when none loads."""
    errors: list[ConfigError | FileNotFoundError] = []
    for rig in rigs:
        try:
            return load_rig_or_studio(rig)
        except (ConfigError, FileNotFoundError) as exc:
            console.print(f"[yellow]rig file {rig} cannot be used; the panel serves the other rigs and shows its "
                          f"problem on the dashboard:[/yellow] {escape(str(exc))}", highlight=False)
            errors.append(exc)
    raise errors[0]


def panel_settings(folder: Path | None, rigs: tuple[Path | None, ...], sessions: Path | None = None,
                   packages: Path | None = None, registry: Path | None = None,
                   purpose: str | None = None) -> WebSettings:
    """What ``capturerig serve`` serves: a studio folder's sessions, packages, registry and purpose, each
    overridden by its flag; without a folder, the first rig's storage root. Raises ConfigError (a bad rig or
    studio file) and FileNotFoundError (no such folder)."""
    first = _first_loadable(rigs)
    if folder is not None:  # a flag given as well wins
        studio = StudioFolder.open(folder)
        sessions, packages = sessions or studio.sessions, packages or studio.packages
        registry, purpose = registry or studio.registry, purpose or studio.purpose
    sessions_dir = (sessions or Path(first.config.storage.root)).absolute()
    return WebSettings(rigs=rigs, sessions_dir=sessions_dir,
                       packages_dir=(packages or sessions_dir.parent / "packages").absolute(),
                       registry=registry, purpose=purpose or CAPTURE_PURPOSE)


def serve_demo(out: Path, registry: Path | None, purpose: str) -> None:
    """The demo's last step: the panel on the demo's own sessions, packages and registry (Ctrl-C stops it)."""
    settings = WebSettings(rigs=(None,), sessions_dir=(out / "sessions").absolute(),
                           packages_dir=(out / "packages").absolute(), port=DEFAULT_PORT, registry=registry,
                           purpose=purpose)
    serve_panel(settings, fallback_port=True)
