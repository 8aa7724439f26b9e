"""The web panel: a FastAPI app for studio technicians, live over WebSocket, every asset served locally.

    settings = WebSettings(rigs=(Path("rig.yaml"),), sessions_dir=Path("sessions"), packages_dir=Path("packages"))
    server = PanelServer(create_app(settings), settings.host, settings.port)
    print(server.url)
    server.run()
"""

from capturerig.web._app import create_app
from capturerig.web._calibration import CalibrationBackend, CalibrationUnavailable
from capturerig.web._calibration_backends import accept_file, current_calibration
from capturerig.web._hub import ClientQueue, EventHub, event_message
from capturerig.web._messages import message_kinds
from capturerig.web._panel import Panel
from capturerig.web._security import PanelGuard, PathRefused, resolve_inside
from capturerig.web._server import PanelServer
from capturerig.web._settings import InsecureBinding, WebSettings, is_loopback, new_token

__all__ = [
    "CalibrationBackend",
    "CalibrationUnavailable",
    "ClientQueue",
    "EventHub",
    "InsecureBinding",
    "Panel",
    "PanelGuard",
    "PanelServer",
    "PathRefused",
    "WebSettings",
    "accept_file",
    "create_app",
    "current_calibration",
    "event_message",
    "is_loopback",
    "message_kinds",
    "new_token",
    "resolve_inside",
]
