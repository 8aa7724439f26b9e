"""``capturerig lights``: put a scene, fixture levels or a blackout on a rig's lights; find Art-Net nodes.

These commands open only the rig's light outputs, send one look, wait until it is on the wire and leave
it there (outputs hold their last frame when closed, as DMX interfaces do).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from capturerig import config
from capturerig.cli._output import BAD_INPUT, FAILED, RigOption, console, load_rig_or_studio
from capturerig.cli._output import fail as _fail
from capturerig.config import FixtureCommand, LightingCondition
from capturerig.devices import DeviceError, send_frames_once
from capturerig.lighting import (
    BLACKOUT,
    UniverseKey,
    blackout_frames,
    expand_lighting,
    find_scene,
    frames_for_condition,
)

__all__ = ["lights_app", "parse_fixture_setting"]

lights_app = typer.Typer(no_args_is_help=True, help="Set the rig's lights: scenes, levels, blackout; discover nodes.")
SEND_TIMEOUT_S = 5.0


@contextmanager
def _user_errors() -> Iterator[None]:
    """A bad rig, scene or level ends the command with exit 2; an output that fails to send with exit 1."""
    try:
        yield
    except (FileNotFoundError, KeyError, ValueError) as exc:  # ConfigError is a ValueError
        raise _fail(str(exc.args[0]) if isinstance(exc, KeyError) else str(exc), BAD_INPUT) from exc
    except (DeviceError, OSError) as exc:
        raise _fail(str(exc), FAILED) from exc


def parse_fixture_setting(text: str) -> tuple[str, FixtureCommand]:
    """``FIXTURE=LEVEL`` (white at that intensity) or ``FIXTURE=key:value,...`` (e.g. ``fx0=intensity:1,cct:3200``).

    ``FIXTURE`` may be ``*`` for every fixture. Raises ValueError with what is wrong.
    """
    fixture, sep, value = text.partition("=")
    if not sep or not fixture or not value:
        raise ValueError(f"'{text}': write FIXTURE=LEVEL (e.g. fx0=0.5) or FIXTURE=key:value,... "
                         "(e.g. fx0=intensity:1,red:1)")
    try:
        level = float(value)
    except ValueError:
        fields: dict[str, object] = {}
        for part in value.split(","):
            key, colon, raw = part.partition(":")
            if not colon:
                raise ValueError(f"'{text}': '{part}' is not key:value (keys: "
                                 f"{', '.join(FixtureCommand.model_fields)})") from None
            fields[key.strip()] = raw.strip()
        try:
            return fixture, FixtureCommand.model_validate(fields)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
            raise ValueError(f"'{text}': {problems}") from None
    if not 0.0 <= level <= 1.0:
        raise ValueError(f"'{text}': level {level:g} is outside 0..1")
    return fixture, FixtureCommand(intensity=level, color=(1.0, 1.0, 1.0, 1.0))


def _lit(frames: dict[UniverseKey, bytes]) -> str:
    channels = sum(1 for frame in frames.values() for level in frame if level)
    return f"{len(frames)} universe(s), {channels} channel(s) above zero"


@lights_app.command("scene")
def scene(name: Annotated[str, typer.Argument(help="a rig scene id, a plan lighting state id, or blackout")],
          rig: RigOption = None,
          plan: Annotated[Path | None, typer.Option("--plan", help="plan whose lighting states to offer")] = None,
          ) -> None:
    """Put a named scene on the lights: a rig scene (e.g. a work light) or a plan's lighting state."""
    with _user_errors():
        loaded = load_rig_or_studio(rig)
        loaded_plan = config.load_plan(plan, loaded) if plan is not None else None
        if name == BLACKOUT:
            frames = blackout_frames(loaded.config)
        else:
            states = expand_lighting(loaded.config, loaded_plan.config.lighting) if loaded_plan else ()
            chosen = find_scene(loaded.config, name, loaded_plan.config if loaded_plan else None, states)
            frames = frames_for_condition(loaded.config, chosen, loaded.path.parent)
        send_frames_once(loaded, frames, SEND_TIMEOUT_S)
    console.print(f"scene {name} on rig {loaded.config.name}: {_lit(frames)}")


@lights_app.command("set")
def set_levels(settings: Annotated[list[str], typer.Argument(help="FIXTURE=LEVEL or FIXTURE=key:value,... "
                                                                   "(fixtures not named go dark)")],
               rig: RigOption = None) -> None:
    """Set fixtures: fx0=0.5 (white at half), '*=1', fx3=intensity:1,red:1, fx2=intensity:0.8,cct:3200."""
    with _user_errors():
        loaded = load_rig_or_studio(rig)
        levels = dict(parse_fixture_setting(text) for text in settings)
        known = {f.id for f in loaded.config.fixtures}
        unknown = sorted(set(levels) - known - {"*"})
        if unknown:
            raise ValueError(f"rig {loaded.config.name} has no fixture {', '.join(unknown)} "
                             f"(fixtures: {', '.join(sorted(known)) or 'none'}; '*' means every fixture)")
        condition = LightingCondition(id="cli-set", levels=levels)
        frames = frames_for_condition(loaded.config, condition, loaded.path.parent)
        send_frames_once(loaded, frames, SEND_TIMEOUT_S)
    console.print(f"rig {loaded.config.name}: {_lit(frames)}")


@lights_app.command("blackout")
def blackout(rig: RigOption = None) -> None:
    """Every universe of every light output to zero."""
    with _user_errors():
        loaded = load_rig_or_studio(rig)
        frames = blackout_frames(loaded.config)
        send_frames_once(loaded, frames, SEND_TIMEOUT_S)
    console.print(f"rig {loaded.config.name}: blackout on {len(frames)} universe(s)")


@lights_app.command("discover")
def discover(bind: Annotated[str, typer.Option(help="local address to poll from")] = "0.0.0.0",
             to: Annotated[str, typer.Option("--to", help="where ArtPoll goes: a broadcast or node address")]
             = "255.255.255.255",
             port: Annotated[int, typer.Option(help="the nodes' Art-Net port")] = 6454,
             timeout: Annotated[float, typer.Option(help="seconds to listen for ArtPollReply")] = 2.0) -> None:
    """Find Art-Net nodes (ArtPoll); lists each node's address, names and output universes."""
    from capturerig.devices.artnet import discover_artnet_nodes  # only this command needs the Art-Net driver

    with _user_errors():
        nodes = discover_artnet_nodes(bind_host=bind, timeout_s=timeout, broadcast_to=to, port=port)
    if not nodes:
        console.print(f"no Art-Net node answered within {timeout:g} s (polled {to}:{port} from {bind})")
        return
    console.print(f"{len(nodes)} Art-Net node(s):")
    for node in nodes:  # one line each: addresses must stay whole to be copied into a rig file
        reply = node.reply
        universes = ", ".join(map(str, reply.output_universes)) or "none"
        console.print(f"  {node.address[0]}:{node.address[1]}  {reply.short_name!r} ({reply.long_name})  "
                      f"output universes: {universes}  report: {reply.node_report}", highlight=False)
