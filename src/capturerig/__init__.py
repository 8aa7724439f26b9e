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
