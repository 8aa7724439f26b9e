"""Routes for the rig itself: rigs and plans, device tiles, preflight, lights, live state and the WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect

from capturerig.lighting import BLACKOUT, expand_lighting, fixture_commands, frames_for_commands
from capturerig.web._messages import ClientLagged
from capturerig.web._models import FixtureLevels, SceneRequest
from capturerig.web._panel import Panel

__all__ = ["studio_router"]

studio_router = APIRouter()


def _panel(request: Request) -> Panel:
    panel: Panel = request.app.state.panel
    return panel


@studio_router.get("/api/rigs", tags=["rig"], summary="Rigs, their devices, scenes and plans; then the rig files "
                   "that could not be loaded, each with its problem")
def list_rigs(request: Request) -> list[dict[str, Any]]:
    panel = _panel(request)
    rigs = []
    for entry in panel.catalog.rigs.values():
        config = entry.loaded.config
        rigs.append({
            "id": entry.id, "name": config.name, "safe_state": config.safe_state,
            "cameras": [{"id": c.id, "driver": c.driver, "serial": c.serial, "group": c.group,
                         "settings": dict(c.settings), "host": (h.name if (h := config.host_of(c.id)) else None)}
                        for c in config.cameras],
            "hosts": [{"name": h.name, "url": h.url, "cameras": list(h.cameras)} for h in config.hosts],
            "light_outputs": [{"id": o.id, "driver": o.driver, "universes": list(o.universes)}
                              for o in config.light_outputs],
            "fixtures": [{"id": f.id, "output": f.output, "universe": f.universe, "address": f.address,
                          "profile": f.profile, "mode": f.mode} for f in config.fixtures],
            "scenes": [BLACKOUT] + [s.id for s in config.scenes if s.id],
            "trigger": config.trigger.id if config.trigger else None,
            "turntable": config.turntable.id if config.turntable else None,
            "plans": [{"id": p.id, "name": p.name} for p in entry.plans.values()],
            "flash_limit": panel.lights.limit(entry.loaded).max_flashes,
        })
    # Rig files that did not load, after the usable rigs: {"id", "name", "file", "problem"}; the page's rig
    # selects skip them and the dashboard shows each problem.
    rigs += [broken.describe() for broken in panel.catalog.problems]
    return rigs


@studio_router.get("/api/estimate", tags=["rig"], summary="Takes, images, hold time, session time (measured on this "
                   "rig where earlier sessions say, else modelled: see basis), disk")
def estimate(request: Request, rig: str | None = None, plan: str | None = None) -> dict[str, object]:
    return _panel(request).runs.estimate(rig, plan)


@studio_router.get("/api/state", tags=["live"], summary="Snapshot of the run, the device tiles and the lights (with "
                   "the sequence number of the views' last change)")
async def state(request: Request) -> dict[str, Any]:
    return _panel(request).state()


@studio_router.post("/api/devices/check", tags=["rig"], summary="Connect every camera and read its settings back")
def check_devices(request: Request, rig: str | None = None) -> list[dict[str, Any]]:
    panel = _panel(request)
    return panel.devices.check_cameras(panel.catalog.rig(rig).loaded)


@studio_router.post("/api/hosts/check", tags=["rig"], summary="Ask every capture host's agent how it is")
def check_hosts(request: Request, rig: str | None = None) -> list[dict[str, Any]]:
    panel = _panel(request)
    return panel.devices.check_hosts(panel.catalog.rig(rig).loaded)


@studio_router.post("/api/preflight", tags=["rig"], summary="The engine's preflight without shooting")
def preflight(request: Request, rig: str | None = None) -> dict[str, Any]:
    panel = _panel(request)
    return panel.devices.preflight(panel.catalog.rig(rig).loaded)


@studio_router.get("/api/lights", tags=["lights"], summary="Scenes, plan lighting states, levels, flash limit")
def lights(request: Request, rig: str | None = None, plan: str | None = None) -> dict[str, Any]:
    panel = _panel(request)
    entry = panel.catalog.rig(rig)
    states: list[dict[str, str]] = []
    if entry.plans:
        _, loaded_plan = panel.catalog.plan(entry.id, plan)
        states = [{"id": s.state_id, "name": s.name or s.state_id}
                  for s in expand_lighting(entry.loaded.config, loaded_plan.config.lighting)]
    limit = panel.lights.limit(entry.loaded)
    last = panel.lights.last(entry.loaded) or {}
    history = panel.lights.history(entry.loaded)  # newest first: the panel's changes and the sessions' takes
    return {"rig": entry.id, "scenes": [BLACKOUT] + [s.id for s in entry.loaded.config.scenes if s.id],
            "plan_states": states, "levels": panel.lights.levels(entry.loaded),
            "flash_limit": {"max_flashes": limit.max_flashes, "window_s": limit.window_s, "source": limit.source},
            # what is on now (scene id, its name, each fixture's colour) and the changes before it, with times
            "scene_names": {s.id: s.name for s in entry.loaded.config.scenes if s.id and s.name},
            "active": history[0]["scene"] if history else None,
            "active_name": history[0]["name"] if history else None, "swatches": last.get("swatches", {}),
            "history": history}


@studio_router.post("/api/lights/scene", tags=["lights"], summary="Put a scene, plan lighting state or blackout on")
def lights_scene(request: Request, body: SceneRequest) -> dict[str, Any]:
    panel = _panel(request)
    entry = panel.catalog.rig(body.rig)
    plan = None
    if body.name != BLACKOUT and entry.plans:
        _, loaded_plan = panel.catalog.plan(entry.id, body.plan)
        plan = loaded_plan.config
        expanded = {s.state_id: s for s in expand_lighting(entry.loaded.config, plan.lighting)}
        if body.name in expanded:  # generated states (olat-fx3) are not in the plan's own list
            rig_config = entry.loaded.config
            frames = frames_for_commands(rig_config, fixture_commands(rig_config, expanded[body.name]),
                                         entry.loaded.path.parent)
            return panel.lights.apply(entry.loaded, frames, body.name, expanded[body.name].name or body.name)
    return panel.lights.scene(entry.loaded, body.name, plan)


@studio_router.post("/api/lights/blackout", tags=["lights"], summary="Every universe of every output to zero")
def lights_blackout(request: Request, rig: str | None = None) -> dict[str, Any]:
    panel = _panel(request)
    return panel.lights.scene(panel.catalog.rig(rig).loaded, BLACKOUT)


@studio_router.post("/api/lights/fixtures", tags=["lights"], summary="Per-fixture levels (others keep theirs)")
def lights_fixtures(request: Request, body: FixtureLevels) -> dict[str, Any]:
    panel = _panel(request)
    return panel.lights.set_fixtures(panel.catalog.rig(body.rig).loaded, dict(body.levels))


@studio_router.websocket("/ws")
async def events_socket(websocket: WebSocket) -> None:
    """Live messages: a ``Snapshot`` first, then every engine event and panel message as JSON, each change of
    the views as a ``ViewPatch``; after the client lost messages, ``ClientLagged`` and a fresh ``Snapshot``.

    ``?events=false``: the views only (``Snapshot``, ``ViewPatch``, ``ClientLagged``), as the panel's page asks.
    """
    panel: Panel = websocket.app.state.panel
    events = websocket.query_params.get("events", "true").lower() not in ("false", "0", "no")
    await websocket.accept()
    client = panel.hub.connect(events)  # connect and snapshot with no await between: nothing is missed or doubled
    first = json.dumps(panel.state(), default=str)

    async def send_all() -> None:
        await websocket.send_text(first)
        while True:
            text = await client.get()
            if client.dropped > client.reported:
                # Taken now, the snapshot holds every message still queued: the client skips their patches
                # by their sequence numbers (not newer than the snapshot's).
                client.reported = client.dropped
                lagged = json.dumps(ClientLagged(dropped=client.dropped).message())
                fresh = json.dumps(panel.state(), default=str)
                await websocket.send_text(lagged)
                await websocket.send_text(fresh)
            await websocket.send_text(text)

    async def receive_all() -> None:
        while True:  # the panel sends nothing; this notices the client leaving
            await websocket.receive_text()

    sender, receiver = asyncio.create_task(send_all()), asyncio.create_task(receive_all())
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, receiver):
            task.cancel()
        for task in (sender, receiver):
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await task  # the client went away: nothing left to tell it
        panel.hub.disconnect(client)
