"""The domain's refusals (``web/_app.py`` ``_STATUS``) as structured problems where they know the file, the
device or the registry at fault: the error response keeps its ``detail`` line for API clients and adds
``problem`` (what, where, what to do) for the page's problem panel.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request

from capturerig.config import ConfigError
from capturerig.devices import DeviceError
from capturerig.packaging import PackageIntegrityError
from capturerig.subjects import ConsentRefused, RegistryError, RegistryMissing
from capturerig.web._consent import ConsentDesk, registry_todo
from capturerig.web._problems import PanelProblem, config_problem
from capturerig.web._runs import SessionNotFound
from capturerig.web._session_problems import diagnose, looks_like_session

__all__ = ["error_body", "problem_for"]

_FOLDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # a plain folder name, as session names are


def _consent_problem(exc: ConsentRefused, desk: ConsentDesk) -> PanelProblem:
    text, registry = str(exc), desk.registry
    if isinstance(exc.__cause__, RegistryMissing):  # "no capture of subject 'x': there is no subject registry at P."
        return PanelProblem(text.split(". ")[0], str(registry), registry_todo(registry, desk.purpose))
    if isinstance(exc.__cause__, RegistryError) and "subject registry" in str(exc.__cause__):  # not a registry
        return PanelProblem(text, str(registry), "restore the registry file from the studio's backup, or serve "
                                                 "the studio folder that holds the studio's registry "
                                                 "(`capturerig serve DIR`)")
    if text.startswith("subject id"):
        return PanelProblem(text, "the Subject field", "type the subject's pseudonymous id as the registry has it")
    what, marker, todo = text.partition(" What to do: ")
    if not marker:  # a subject the registry does not know: "...: add them with `capturerig subjects add ...`"
        what, marker, todo = text.partition(": add them with ")
        todo = f"add them with {todo}" if marker else ""
    return PanelProblem(what.rstrip("."), f"subject registry {registry}", todo or
                        f"record the subject's signed consent for '{desk.purpose}' (`capturerig subjects consent "
                        f"SUBJECT_ID --purpose {desk.purpose} --expires YYYY-MM-DD --document SIGNED_FILE "
                        f"--registry {registry}`)")


def problem_for(request: Request, exc: Exception) -> PanelProblem | None:
    """The structured problem ``exc`` stands for, or None when it names nothing to point at (a busy rig, an
    unknown id: its one line says it all)."""
    panel = request.app.state.panel
    if isinstance(exc, PanelProblem):
        return exc
    if isinstance(exc, ConfigError):
        return config_problem(exc, "a rig or plan file cannot be used")
    if isinstance(exc, DeviceError):
        return PanelProblem(exc.message, f"device {exc.device_id}", exc.hint or
                            "check the device (power, cable, address) and try again; the dashboard's preflight "
                            "checks every device")
    if isinstance(exc, ConsentRefused):
        return _consent_problem(exc, panel.consent)
    if isinstance(exc, RegistryError):
        return PanelProblem(str(exc), f"subject registry {panel.consent.registry}",
                            registry_todo(panel.consent.registry, panel.consent.purpose))
    if isinstance(exc, PackageIntegrityError):
        return PanelProblem(f"frame '{exc.name}' changed after it was verified", str(exc.source),
                            "re-verify or re-shoot this take before packaging")
    if isinstance(exc, SessionNotFound):  # a folder that is there but cannot be opened: say why
        name = request.path_params.get("name") or request.path_params.get("session")
        if isinstance(name, str) and _FOLDER_NAME.fullmatch(name) and looks_like_session(panel.sessions_dir / name):
            return diagnose(panel.sessions_dir / name)
    return None


def error_body(request: Request, exc: Exception, detail: str) -> dict[str, Any]:
    """``{"detail": detail}``, and ``problem`` when ``exc`` has one. The detail stays the exception's own line,
    except for a refusal that is a problem itself or a session folder that is there but unreadable."""
    problem = problem_for(request, exc)
    if problem is None:
        return {"detail": detail}
    own_line = isinstance(exc, PanelProblem | SessionNotFound)
    return {"detail": problem.one_line() if own_line else detail, "problem": problem.as_dict()}
