"""capturerig: a controller for photogrammetry and light-stage capture rigs.

Scripted sessions use this API (the CLI and the web panel do too)::

    import capturerig

    rig = capturerig.load_rig("examples/sim-studio/rig.yaml")
    plan = capturerig.load_plan("examples/sim-studio/plan.yaml", rig)
    session = capturerig.Session.create(rig, plan, subject="S-0042", out="sessions/s-0042")
    session.subscribe(print)
    result = session.run()
    capturerig.package_session(session.path, "packages/s-0042")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from capturerig._api import load_plan, load_rig
    from capturerig.config import ConfigError
    from capturerig.engine import (
        IncompleteSession,
        PreflightFailed,
        RunResult,
        RunState,
        Session,
        package_session,
    )
    from capturerig.packaging import verify_package
    from capturerig.subjects import ConsentRefused

# Loaded on first use: a process that needs one part (the checks' child process, an agent, a Dask worker) imports
# that part, not the engine, calibration and packaging behind this API.
_EXPORTS = {
    "ConfigError": "capturerig.config",
    "ConsentRefused": "capturerig.subjects",
    "IncompleteSession": "capturerig.engine",
    "PreflightFailed": "capturerig.engine",
    "RunResult": "capturerig.engine",
    "RunState": "capturerig.engine",
    "Session": "capturerig.engine",
    "load_plan": "capturerig._api",
    "load_rig": "capturerig._api",
    "package_session": "capturerig.engine",
    "verify_package": "capturerig.packaging",
}

__all__ = [
    "ConfigError",
    "ConsentRefused",
    "IncompleteSession",
    "PreflightFailed",
    "RunResult",
    "RunState",
    "Session",
    "load_plan",
    "load_rig",
    "package_session",
    "verify_package",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'capturerig' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
