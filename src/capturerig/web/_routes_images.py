"""Routes for looking at what a session shot: an image's histogram, and a past session read back whole.

Paths are checked as the files route checks them (:func:`capturerig.web._security.resolve_inside`): only
files below the session's own folder.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from capturerig.web._histogram import HistogramCache, HistogramError
from capturerig.web._panel import Panel
from capturerig.web._past_sessions import session_view
from capturerig.web._problems import PanelProblem
from capturerig.web._security import resolve_inside

__all__ = ["images_router"]

images_router = APIRouter()
# One per process: keyed by the file's resolved path, size and mtime, so every panel app may share it.
_HISTOGRAMS = HistogramCache()


def _panel(request: Request) -> Panel:
    panel: Panel = request.app.state.panel
    return panel


@images_router.get("/api/sessions/{name}/histogram/{path:path}", tags=["files"],
                   summary="An image's histogram per channel, with clipped highlights and crushed shadows")
def image_histogram(request: Request, name: str, path: str) -> dict[str, Any]:
    target = resolve_inside(_panel(request).runs.session_dir(name), path)
    if not target.is_file():
        raise FileNotFoundError(f"'{path}' is a folder, not a file")
    try:
        return {"session": name, "path": path, **_HISTOGRAMS.histogram(target)}
    except HistogramError as exc:
        raise PanelProblem(f"no histogram for {target.name}: {exc}", where=f"session {name}, file {path}",
                           todo="open the file itself (RAW files are not decoded by the panel) or re-shoot the "
                                "take if the file is damaged") from exc


@images_router.get("/api/sessions/{name}/view", tags=["sessions"],
                   summary="A session read back from its journal: takes, their status and files (read-only)")
def past_session(request: Request, name: str) -> dict[str, Any]:
    return session_view(_panel(request).runs.session_dir(name))
