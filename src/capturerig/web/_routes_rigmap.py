"""The rig map route: where each device of a rig is, for the dashboard's top and side views."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from capturerig.web._panel import Panel
from capturerig.web._rigmap import build_rig_map

__all__ = ["rigmap_router"]

rigmap_router = APIRouter()


@rigmap_router.get("/api/rigs/{rig}/map", tags=["rig"],
                   summary="Where each camera, light, turntable, trigger box and capture host of a rig is (rig "
                           "frame, metres), from the rig file and the accepted geometry calibration")
def rig_map(request: Request, rig: str) -> dict[str, Any]:
    panel: Panel = request.app.state.panel
    entry = panel.catalog.rig(rig)
    return build_rig_map(entry.loaded, entry.id, panel.calibration_dir).as_dict()
