"""Routes for what the rig produced: sessions (start, steer, re-shoot), their files and thumbnails, and
training packages (calibration: :mod:`capturerig.web._routes_calibration`). Files are served only from below
the storage roots.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, StreamingResponse

from capturerig.web._models import ConfirmPose, PackageBuild, ReshootRequest, ReshootTake, SessionStart
from capturerig.web._packages import zip_stream
from capturerig.web._panel import Panel
from capturerig.web._past_sessions import session_order
from capturerig.web._security import resolve_inside
from capturerig.web._session_problems import require_readable, session_folders, session_row

__all__ = ["store_router"]

store_router = APIRouter()
_INLINE_TYPES = {"image/jpeg", "image/png", "application/json", "text/plain"}


def _panel(request: Request) -> Panel:
    panel: Panel = request.app.state.panel
    return panel


def _file_response(path: Path) -> FileResponse:
    if not path.is_file():
        raise FileNotFoundError(f"'{path.name}' is a folder, not a file")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if media_type not in _INLINE_TYPES:  # never let the browser render served HTML or scripts as the panel
        media_type = "application/octet-stream"
    return FileResponse(path, media_type=media_type, headers={"X-Content-Type-Options": "nosniff"})


# -- sessions ----------------------------------------------------------------------------------------------
@store_router.get("/api/subjects", tags=["sessions"], summary="Subjects in the registry and their consent status")
def list_subjects(request: Request) -> dict[str, Any]:
    return _panel(request).consent.subjects()


@store_router.get("/api/sessions", tags=["sessions"], summary="Sessions in the storage root, newest start first")
def list_sessions(request: Request) -> list[dict[str, Any]]:
    panel = _panel(request)
    if not panel.sessions_dir.is_dir():
        return []
    # A folder the panel cannot read is a row with its problem (what, which file, what to do), never a 500.
    rows = [session_row(panel.runs.describe, path) for path in session_folders(panel.sessions_dir)]
    return session_order(rows)  # by start time: a folder's mtime moves with every file written into it


@store_router.post("/api/sessions", tags=["sessions"], status_code=202, summary="Create a session and start it")
def start_session(request: Request, body: SessionStart) -> dict[str, str]:
    name = _panel(request).runs.start(body.rig, body.plan, body.subject, body.confirm_poses)
    return {"session": name}


@store_router.post("/api/sessions/{name}/reshoot", tags=["sessions"], status_code=202,
                   summary="Re-shoot what the journal cannot prove done (failed or missing takes)")
def reshoot_session(request: Request, name: str, body: ReshootRequest) -> dict[str, str]:
    panel = _panel(request)
    require_readable(panel.runs.session_dir(name))  # a damaged session: its problem, before the rig is claimed
    return {"session": panel.runs.reshoot(name, body.confirm_poses)}


@store_router.post("/api/sessions/{name}/takes/{take_id:path}/reshoot", tags=["sessions"], status_code=202,
                   summary="Shoot one take again (after a failed check): in the running session, or a re-shoot")
def reshoot_take(request: Request, name: str, take_id: str, body: ReshootTake) -> dict[str, str]:
    panel = _panel(request)
    require_readable(panel.runs.session_dir(name))  # a damaged session: its problem, before the rig is claimed
    when = panel.runs.reshoot_take(name, take_id, body.reason, body.confirm_poses)
    return {"session": name, "take_id": take_id, "when": when}


@store_router.post("/api/run/pause", tags=["sessions"], summary="Pause at the next take boundary (lights safe)")
def pause_run(request: Request) -> dict[str, str]:
    _panel(request).runs.pause()
    return {"requested": "pause"}


@store_router.post("/api/run/resume", tags=["sessions"], summary="Resume a paused session")
def resume_run(request: Request) -> dict[str, str]:
    _panel(request).runs.resume()
    return {"requested": "resume"}


@store_router.post("/api/run/abort", tags=["sessions"], summary="Abort: lights safe at once, stop at the boundary")
def abort_run(request: Request) -> dict[str, str]:
    _panel(request).runs.abort()
    return {"requested": "abort"}


@store_router.post("/api/run/confirm-pose", tags=["sessions"], summary="Answer the operator's pose question")
def confirm_pose(request: Request, body: ConfirmPose) -> dict[str, bool]:
    _panel(request).runs.confirm_pose(body.confirmed)
    return {"confirmed": body.confirmed}


@store_router.get("/api/sessions/{name}/files/{path:path}", tags=["files"],
                  summary="A file of a session (thumb=true: a small JPEG of an image)")
def session_file(request: Request, name: str, path: str, thumb: bool = False) -> FileResponse:
    panel = _panel(request)
    folder = panel.runs.session_dir(name)
    target = resolve_inside(folder, path)
    if thumb:
        return _file_response(panel.thumbs.thumbnail(target))
    return _file_response(target)


# -- packages ----------------------------------------------------------------------------------------------
@store_router.get("/api/packages", tags=["packages"], summary="Packages in the packages root")
def list_packages(request: Request) -> list[dict[str, Any]]:
    return _panel(request).packages.list()


@store_router.post("/api/packages", tags=["packages"], status_code=202,
                   summary="Start packaging a finished session (a job: poll /api/packages/jobs/{id})")
def build_package(request: Request, body: PackageBuild) -> dict[str, Any]:
    panel = _panel(request)
    return panel.packages.start_build(panel.runs.session_dir(body.session)).view()


@store_router.get("/api/packages/jobs", tags=["packages"], summary="Package builds still running")
def package_jobs(request: Request) -> list[dict[str, Any]]:
    return _panel(request).packages.active()


@store_router.get("/api/packages/jobs/{job_id}", tags=["packages"],
                  summary="A package build: stage, bytes done, ETA, then its result or problem")
def package_job(request: Request, job_id: str) -> dict[str, Any]:
    return _panel(request).packages.job(job_id).view()


@store_router.post("/api/packages/{name}/verify", tags=["packages"], summary="Check every file against its manifest")
def verify_package(request: Request, name: str) -> dict[str, Any]:
    return _panel(request).packages.verify(name)


@store_router.get("/api/packages/{name}/download", tags=["packages"], summary="The whole package as a zip stream")
def download_package(request: Request, name: str) -> StreamingResponse:
    path = _panel(request).packages.path(name)
    return StreamingResponse(zip_stream(path, name), media_type="application/zip",
                             headers={"Content-Disposition": f'attachment; filename="{name}.zip"'})


@store_router.get("/api/packages/{name}/files/{path:path}", tags=["files"], summary="One file of a package")
def package_file(request: Request, name: str, path: str) -> FileResponse:
    panel = _panel(request)
    folder = panel.packages.path(name)
    return _file_response(resolve_inside(folder, path))
