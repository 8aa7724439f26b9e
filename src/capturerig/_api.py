"""The public Python API for scripted sessions; the CLI and the web panel use exactly this."""

from __future__ import annotations

from pathlib import Path

from capturerig import config
from capturerig.devices import installed_drivers
from capturerig.plan import refuse_unsafe_plan

__all__ = ["load_plan", "load_rig"]


def load_rig(path: str | Path | None = None) -> config.LoadedRig:
    """Load and check a rig file (default: the embedded simulated studio).

    Every device's driver must be installed, and its params must fit the params model the driver declares;
    a bad param is reported at its line like any other problem of the file (ConfigError).
    """
    return config.load_rig(path or config.default_rig_path(), drivers=installed_drivers())


def load_plan(path: str | Path | None, rig: config.LoadedRig) -> config.LoadedPlan:
    """Load a plan (default: the embedded demo plan) and check it against ``rig``.

    A plan whose lighting would flash a person in the rig beyond their limit is refused (ConfigError).
    """
    plan = config.load_plan(path or config.default_plan_path(), rig)
    refuse_unsafe_plan(rig, plan)
    return plan
