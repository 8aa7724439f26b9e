"""Routes of the calibration page: what it can shoot and solve, shooting a plan with live coaching, solving a
session with progress, reports, and accepting one as the rig's calibration.

Long work answers 202 with a job (``/api/calibration/jobs/{id}`` to poll: stage, fraction, ETA, coaching,
report or problem); refusals answer as problems (what / where / what to do) the page keeps until dismissed.
Job routes come before ``/api/calibration/{kind}/{session}``, which would otherwise take ``jobs`` for a kind.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from capturerig.web._calibration_backends import CalibrationRefused
from capturerig.web._calibration_jobs import CalibrationJobs
from capturerig.web._panel import Panel
from capturerig.web._problems import PanelProblem
from capturerig.web._runs import Busy

__all__ = ["CalibrationShoot", "calibration_router"]

calibration_router = APIRouter(tags=["calibration"])


class CalibrationShoot(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    target: Literal["board", "chart"] = Field(description="board: ChArUco geometry; chart: ColorChecker colour")
    plan: str = Field(max_length=128, description="plan id (one of GET /api/calibration's plans for the target)")
    rig: str | None = Field(default=None, max_length=128, description="rig id (default: the panel's first rig)")
    confirm_positions: bool = Field(default=False, description="wait for the technician at each board position")


def _panel(request: Request) -> Panel:
    panel: Panel = request.app.state.panel
    return panel


def _jobs(request: Request) -> CalibrationJobs:
    jobs: CalibrationJobs = request.app.state.panel.calibration_jobs
    return jobs


@contextmanager
def _as_problem() -> Iterator[None]:
    """A calibration refusal answers as a problem panel (its own 422 handler would send only one line)."""
    try:
        yield
    except CalibrationRefused as refused:
        raise PanelProblem(refused.what, refused.where, refused.todo, refused.status) from refused


@calibration_router.get("/api/calibration", summary="What the page can shoot and solve, the rig's accepted "
                        "calibrations, and the jobs still running")
def calibration_kinds(request: Request, rig: str | None = None) -> dict[str, Any]:
    panel = _panel(request)
    entry = panel.catalog.rig(rig)
    # simulated: the panel stages the virtual studio and its technician moves the board; a real studio's run
    # should wait for the technician at each board position, so the page asks for that by default.
    return {**panel.calibration.describe(entry.loaded), "rig_id": entry.id, "plans": _jobs(request).plans(entry.id),
            "simulated": bool(entry.loaded.config.simulation), "jobs": _jobs(request).active()}


@calibration_router.post("/api/calibration/shoot", status_code=202,
                         summary="Shoot a calibration plan (board or chart) as a session, with live coaching")
def shoot_calibration(request: Request, body: CalibrationShoot) -> dict[str, Any]:
    jobs = _jobs(request)
    try:
        job = jobs.shoot(body.rig, body.plan, body.target, body.confirm_positions)
    except Busy as busy:
        raise PanelProblem(f"the rig is in use: {_panel(request).hardware.owner or 'another task'}",
                           f"rig {body.rig or _panel(request).catalog.rig(None).id}",
                           "Wait until it finishes (the Session page shows a running session), then shoot.",
                           status=409) from busy
    return jobs.view(job.id)


@calibration_router.get("/api/calibration/jobs/{job_id}", summary="A shoot's or solve's stage, progress, ETA, "
                        "coaching, report or problem")
def calibration_job(request: Request, job_id: str) -> dict[str, Any]:
    return _jobs(request).view(job_id)


@calibration_router.post("/api/calibration/{kind}/{session}/solve", status_code=202,
                         summary="Solve a calibration from a session's frames in the background; poll the job")
def solve_calibration(request: Request, kind: str, session: str, rig: str | None = None) -> dict[str, Any]:
    jobs = _jobs(request)
    job = jobs.solve(kind, session, rig)
    return jobs.view(job.id)


@calibration_router.post("/api/calibration/{kind}/{session}",
                         summary="Calibrate from a session's captured frames and wait for the report")
def run_calibration(request: Request, kind: str, session: str, rig: str | None = None) -> dict[str, Any]:
    panel = _panel(request)
    with _as_problem():
        return panel.calibration.run(kind, panel.runs.session_dir(session), panel.catalog.rig(rig).loaded)


@calibration_router.get("/api/calibration/{kind}/{session}", summary="A session's last report")
def calibration_report(request: Request, kind: str, session: str) -> dict[str, Any]:
    panel = _panel(request)
    return panel.calibration.report(kind, panel.runs.session_dir(session))


@calibration_router.post("/api/calibration/{kind}/{session}/accept",
                         summary="Make this report the rig's current calibration")
def accept_calibration(request: Request, kind: str, session: str, rig: str | None = None) -> dict[str, Any]:
    panel = _panel(request)
    with _as_problem():
        accepted = panel.calibration.accept(kind, panel.runs.session_dir(session), panel.catalog.rig(rig).loaded)
    return {"kind": accepted["kind"], "session": accepted["session"]}  # no server path: the page names the session
