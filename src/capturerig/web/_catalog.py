"""The rigs and plans a panel offers, by id; requests name ids, never file paths.

A rig file that cannot be loaded (a YAML slip, an unknown field, a bad value, a file that is gone) does not stop
the panel: the catalog keeps a :class:`RigFileProblem` for it (file:line, field, what to do), the panel serves the
rigs that load, and ``/api/rigs`` lists the broken ones with their problem.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import capturerig
from capturerig.config import ConfigError, LoadedPlan, LoadedRig, default_plan_path
from capturerig.plan import estimate_plan
from capturerig.web._problems import PanelProblem, config_problem

__all__ = ["Catalog", "PlanEntry", "RigEntry", "RigFileProblem", "UnknownChoice"]

log = logging.getLogger(__name__)


class UnknownChoice(KeyError):
    """A request named a rig, plan or fixture the panel does not offer; the message lists what it does."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class PlanEntry:
    id: str
    name: str
    path: Path


@dataclass(frozen=True)
class RigFileProblem:
    """A rig file the panel could not load, and why."""

    path: Path
    problem: PanelProblem

    def describe(self) -> dict[str, Any]:
        """Its row in ``/api/rigs``: the file's stem as id, the file, and the problem (what, where, what to do)."""
        return {"id": self.path.stem, "name": self.path.name, "file": str(self.path),
                "problem": self.problem.as_dict()}


def _rig_file_problem(path: Path, exc: ConfigError | OSError) -> RigFileProblem:
    todo = ("fix the file, then restart the panel (it reads rig files when it starts); the panel serves the "
            "other rigs meanwhile")
    if isinstance(exc, ConfigError):
        return RigFileProblem(path, config_problem(exc, f"rig file {path.name} cannot be used", path, todo))
    reason = exc.strerror or str(exc)
    return RigFileProblem(path, PanelProblem(f"rig file {path.name} cannot be read: {reason}", str(path), todo))


@dataclass(frozen=True)
class RigEntry:
    id: str
    loaded: LoadedRig
    plans: dict[str, PlanEntry]


def _plans_beside(rig: LoadedRig, extra: tuple[Path, ...]) -> dict[str, PlanEntry]:
    """Plans in the rig's folder and the ones named, each loaded once to prove it fits the rig."""
    beside = sorted(rig.path.parent.glob("*.yaml"), key=lambda p: (p.name != "plan.yaml", p.name))  # plan.yaml first
    candidates = [p for p in beside if p.resolve() != rig.path.resolve()]
    candidates += [default_plan_path(), *extra]
    plans: dict[str, PlanEntry] = {}
    seen: set[Path] = set()
    for path in candidates:
        if path.resolve() in seen:
            continue
        seen.add(path.resolve())
        try:
            loaded = capturerig.load_plan(path, rig)
        except (ConfigError, OSError, ValueError) as exc:
            log.info("not offering %s for rig %s: %s", path, rig.config.name, exc)
            continue
        plan_id = loaded.config.name if loaded.config.name not in plans else f"{loaded.config.name}-{len(plans)}"
        plans[plan_id] = PlanEntry(plan_id, loaded.config.name, path)
    return plans


class Catalog:
    """Loads the rigs once; plans are those beside each rig (plus the embedded demo plan and any named).

    ``problems`` lists the rig files that did not load; the others are served.
    """

    def __init__(self, rig_paths: tuple[Path | None, ...], extra_plans: tuple[Path, ...] = ()) -> None:
        self.rigs: dict[str, RigEntry] = {}
        self.problems: list[RigFileProblem] = []
        for path in rig_paths or (None,):
            try:
                loaded = capturerig.load_rig(path)
            except (ConfigError, OSError) as exc:
                if path is None:  # the embedded studio is part of the release: failing to load it is a bug
                    raise
                log.warning("not offering rig file %s: %s", path, exc)
                self.problems.append(_rig_file_problem(path, exc))
                continue
            name = loaded.config.name
            rig_id = name if name not in self.rigs else f"{name}-{len(self.rigs)}"
            self.rigs[rig_id] = RigEntry(rig_id, loaded, _plans_beside(loaded, extra_plans))

    @property
    def default_rig(self) -> RigEntry:
        """The first rig that loaded; a PanelProblem naming the broken files when none did."""
        if not self.rigs:
            files = ", ".join(str(p.path) for p in self.problems) or "none given"
            raise PanelProblem("no rig this panel can drive: every rig file it was given has a problem", files,
                               "fix the rig files (each one's problem is on the dashboard), then restart the "
                               "panel", status=503)
        return next(iter(self.rigs.values()))

    def rig(self, rig_id: str | None) -> RigEntry:
        if rig_id is None:
            return self.default_rig
        try:
            return self.rigs[rig_id]
        except KeyError:
            broken = next((p for p in self.problems if p.path.stem == rig_id), None)
            if broken is not None:  # a rig the panel knows of but could not load: say why
                p = broken.problem
                raise PanelProblem(p.what, p.where, p.todo, p.status) from None
            raise UnknownChoice(f"no rig '{rig_id}' (this panel offers: {', '.join(self.rigs)})") from None

    def plan(self, rig_id: str | None, plan_id: str | None) -> tuple[RigEntry, LoadedPlan]:
        rig = self.rig(rig_id)
        if plan_id is None:
            plan_id = next(iter(rig.plans), None)
        entry = rig.plans.get(plan_id or "")
        if entry is None:
            raise UnknownChoice(f"no plan '{plan_id}' for rig {rig.id} (plans: {', '.join(rig.plans) or 'none'})")
        return rig, capturerig.load_plan(entry.path, rig.loaded)

    def estimate(self, rig_id: str | None, plan_id: str | None) -> dict[str, object]:
        rig, plan = self.plan(rig_id, plan_id)
        estimate = estimate_plan(rig.loaded.config, plan.config, rig.loaded.path.parent)
        return {"rig": rig.id, "plan": plan.config.name, "takes": estimate.takes, "images": estimate.images,
                "hold_s_by_pose": estimate.hold_s_by_pose, "session_s": estimate.session_s,
                "disk_bytes": estimate.disk_bytes}
