"""The panel's FastAPI application: routes, guards, static assets, offline API docs, error mapping.

Errors: the exceptions our code raises on purpose (the domain's own classes, see ``_STATUS``) answer with the
4xx (or 502) status they mean and their message. Anything else is a bug and answers 500, also a plain
``KeyError`` or ``ValueError`` from a slip in a handler (a missing dictionary key must not read as "not
found"); Starlette passes it on to the server, which logs it with its traceback. A refusal that should be a
4xx is raised as a class of its own by the code that refuses, and listed here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from capturerig.config import ConfigError
from capturerig.devices import DeviceError
from capturerig.engine import IncompleteSession, capturerig_version
from capturerig.lighting import PhotosensitivityRefused, StrobeOutOfRange, UnknownScene
from capturerig.packaging import PackageIntegrityError
from capturerig.subjects import ConsentRefused, RegistryError
from capturerig.web._calibration import CalibrationUnavailable
from capturerig.web._calibration_backends import CalibrationRefused
from capturerig.web._catalog import UnknownChoice
from capturerig.web._error_problems import error_body
from capturerig.web._packages import PackageNotFound
from capturerig.web._panel import Panel
from capturerig.web._problems import PanelProblem, problem_body
from capturerig.web._routes_calibration import calibration_router
from capturerig.web._routes_images import images_router
from capturerig.web._routes_rigmap import rigmap_router
from capturerig.web._routes_store import store_router
from capturerig.web._routes_studio import studio_router
from capturerig.web._routes_timeline import timeline_router
from capturerig.web._runs import Busy, SessionNotFound, UnknownTake
from capturerig.web._security import TOKEN_COOKIE, PanelGuard, PathRefused
from capturerig.web._settings import WebSettings
from capturerig.web._thumbs import ThumbnailError

__all__ = ["create_app"]

STATIC_DIR = Path(__file__).parent / "static"
DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"  # Swagger UI, shipped in a wheel: no CDN

# Exceptions our code raises on purpose, with the status each means. Anything else is a bug (500).
_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (PathRefused, 403), (ConsentRefused, 403), (Busy, 409), (FileExistsError, 409), (IncompleteSession, 409),
    (UnknownChoice, 404), (SessionNotFound, 404), (UnknownTake, 404), (PackageNotFound, 404),
    (CalibrationUnavailable, 404), (UnknownScene, 404), (FileNotFoundError, 404), (ConfigError, 422),
    (PhotosensitivityRefused, 422), (StrobeOutOfRange, 422), (CalibrationRefused, 422), (ThumbnailError, 422),
    (RegistryError, 422), (PackageIntegrityError, 422), (DeviceError, 502),
)


def _detail(exc: BaseException) -> str:
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)


def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    """A bug: 500 with what it was. Starlette re-raises ``exc`` after this answer, so the server logs it."""
    return JSONResponse({"detail": f"internal error in the panel ({type(exc).__name__}: {_detail(exc)}); "
                                   "the server's log has the details"}, status_code=500)


def create_app(settings: WebSettings | None = None, panel: Panel | None = None) -> FastAPI:
    """The panel app for ``settings`` (or an already built ``panel``); refuses an unsafe binding.

    Raises
    ------
    InsecureBinding
        Settings that would listen beyond loopback without a token.
    """
    if panel is None:
        if settings is None:
            raise ValueError("create_app needs settings or a panel")
        panel = Panel(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        panel.hub.bind(asyncio.get_running_loop())
        try:
            yield
        finally:
            panel.hub.bind(None)
            if panel.runs.running:  # the server stops: the session stops too (journalled as interrupted), lights safe
                panel.runs.stop_for_server()
                await asyncio.to_thread(panel.runs.wait, 30.0)

    app = FastAPI(title="capturerig panel", version=capturerig_version(), lifespan=lifespan, docs_url=None,
                  redoc_url=None, description="Run the capture rig from a browser: devices, sessions, lights, "
                  "calibration and packages. State-changing requests need the token or the same origin.")
    app.state.panel = panel
    app.mount("/static/docs", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(studio_router)
    app.include_router(timeline_router)  # before the store's /api/sessions/{name}/...
    app.include_router(store_router)
    app.include_router(images_router)
    app.include_router(rigmap_router)
    app.include_router(calibration_router)

    for exc_type, status in _STATUS:
        def handler(request: Request, exc: Exception, status: int = status) -> JSONResponse:
            # with "problem" (what, where, what to do) when the error names a file, device or registry
            return JSONResponse(error_body(request, exc, _detail(exc)), status_code=status)
        app.add_exception_handler(exc_type, handler)

    def problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, PanelProblem)
        return JSONResponse(problem_body(exc), status_code=exc.status)

    app.add_exception_handler(PanelProblem, problem)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        text = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in errors)
        return JSONResponse({"detail": text or str(exc)}, status_code=422)

    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(Exception, _internal_error)

    @app.get("/", include_in_schema=False)
    def index(request: Request) -> Response:
        response = FileResponse(STATIC_DIR / "index.html", media_type="text/html")
        token = request.query_params.get("token")
        if panel.settings.token and token == panel.settings.token:  # the guard already checked it
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return response

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="capturerig panel API",
                                   swagger_js_url="/static/docs/swagger-ui-bundle.js",
                                   swagger_css_url="/static/docs/swagger-ui.css",
                                   swagger_favicon_url="/static/docs/favicon.png",
                                   swagger_ui_parameters={"validatorUrl": None})

    app.add_middleware(PanelGuard, token=panel.settings.token)
    return app
