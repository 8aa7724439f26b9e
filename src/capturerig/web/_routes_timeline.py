"""Routes for what the journals say of sessions as time goes: interrupted sessions and each session's timeline.

Included before the store's routes, so ``/api/sessions/interrupted`` is never read as a session's name.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from capturerig.web._panel import Panel

__all__ = ["timeline_router"]

timeline_router = APIRouter()


def _panel(request: Request) -> Panel:
    panel: Panel = request.app.state.panel
    return panel


@timeline_router.get("/api/sessions/interrupted", tags=["sessions"],
                     summary="Sessions the panel's server did not see to their end (stopped or killed mid-run), "
                             "newest first, each with a sentence saying where it stopped")
def interrupted_sessions(request: Request) -> list[dict[str, Any]]:
    return _panel(request).runs.interrupted()


@timeline_router.get("/api/sessions/{name}/timeline", tags=["sessions"],
                     summary="Every event of a session with its time, oldest first: {session, entries: [{t, kind, "
                             "text, take_id, level}]}")
def session_timeline(request: Request, name: str) -> dict[str, Any]:
    return _panel(request).runs.timeline(name)
