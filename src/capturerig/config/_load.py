"""Load rig and plan files into frozen models; every problem is reported with file, line and field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from capturerig.config._errors import ConfigError, ConfigProblem
from capturerig.config._plan import PlanConfig
from capturerig.config._profiles import load_body_profile, load_fixture_profile
from capturerig.config._rig import RigConfig
from capturerig.config._validation import problems_from_validation_error
from capturerig.config._yaml import LocatedDocument, load_located_yaml

__all__ = [
    "DMX_UNIVERSE_SIZE",
    "LoadedPlan",
    "LoadedRig",
    "default_plan_path",
    "default_rig_path",
    "load_plan",
    "load_rig",
    "selected_cameras",
]

DMX_UNIVERSE_SIZE = 512
Model = TypeVar("Model", bound=BaseModel)


def default_rig_path() -> Path:
    """The embedded simulated studio (16 cameras on two rings, 8 fixtures)."""
    return Path(str(resources.files("capturerig.config") / "defaults" / "rig.yaml"))


def default_plan_path() -> Path:
    """The embedded demo plan (1 pose x 2 stations x 4 lighting states)."""
    return Path(str(resources.files("capturerig.config") / "defaults" / "plan.yaml"))


class LoadedRig:
    """A validated rig plus where it came from (for relative paths and snapshots)."""

    def __init__(self, config: RigConfig, path: Path, text: str) -> None:
        self.config = config
        self.path = path
        self.text = text


class LoadedPlan:
    def __init__(self, config: PlanConfig, path: Path, text: str) -> None:
        self.config = config
        self.path = path
        self.text = text


def _validate(model: type[Model], doc: LocatedDocument) -> Model:
    if not isinstance(doc.data, dict):
        raise ConfigError([doc.problem((), "expected a mapping of fields at the top level")])
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(problems_from_validation_error(exc, doc)) from exc


def _duplicates(doc: LocatedDocument, section: str, ids: Sequence[str], what: str) -> list[ConfigProblem]:
    seen: dict[str, int] = {}
    problems = []
    for index, item_id in enumerate(ids):
        if item_id in seen:
            problems.append(doc.problem((section, index, "id"),
                                        f"duplicate {what} id '{item_id}' (first at {section}[{seen[item_id]}])"))
        else:
            seen[item_id] = index
    return problems


def _check_rig(rig: RigConfig, doc: LocatedDocument, base: Path,
               known_drivers: Mapping[str, Sequence[str]] | None) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    problems += _duplicates(doc, "cameras", [c.id for c in rig.cameras], "camera")
    problems += _duplicates(doc, "light_outputs", [o.id for o in rig.light_outputs], "light output")
    problems += _duplicates(doc, "fixtures", [f.id for f in rig.fixtures], "fixture")
    serials: dict[str, int] = {}
    for index, camera in enumerate(rig.cameras):
        if camera.serial in serials:
            problems.append(doc.problem(("cameras", index, "serial"),
                                        f"serial '{camera.serial}' is also cameras[{serials[camera.serial]}]'s"))
        serials.setdefault(camera.serial, index)
        try:
            body = load_body_profile(camera.body, base)
        except (FileNotFoundError, ConfigError) as exc:
            problems.append(doc.problem(("cameras", index, "body"), str(exc)))
        else:
            for fmt in camera.formats:
                if fmt not in body.formats:
                    problems.append(doc.problem(("cameras", index, "formats"),
                                                f"body '{body.name}' has no format '{fmt}' "
                                                f"(has: {', '.join(body.formats)})"))
    if known_drivers is not None:
        devices: list[tuple[str, str, int | None, str]] = [
            ("camera", "cameras", i, c.driver) for i, c in enumerate(rig.cameras)]
        devices += [("light", "light_outputs", i, o.driver) for i, o in enumerate(rig.light_outputs)]
        if rig.trigger:
            devices.append(("trigger", "trigger", None, rig.trigger.driver))
        if rig.turntable:
            devices.append(("turntable", "turntable", None, rig.turntable.driver))
        for kind, section, index, driver in devices:
            names = known_drivers.get(kind, ())
            if driver not in names:
                path = (section, "driver") if index is None else (section, index, "driver")
                problems.append(doc.problem(path, f"unknown {kind} driver '{driver}' "
                                                  f"(installed: {', '.join(sorted(names)) or 'none'})"))
    problems += _check_fixtures(rig, doc, base)
    return problems


def _check_fixtures(rig: RigConfig, doc: LocatedDocument, base: Path) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    outputs = {o.id: o for o in rig.light_outputs}
    occupied: dict[tuple[str, int], list[tuple[int, int, int]]] = {}  # (output, universe) -> (first, last, index)
    for index, fixture in enumerate(rig.fixtures):
        output = outputs.get(fixture.output)
        if output is None:
            problems.append(doc.problem(("fixtures", index, "output"),
                                        f"no light output '{fixture.output}' (have: {', '.join(outputs) or 'none'})"))
        elif fixture.universe not in output.universes:
            problems.append(doc.problem(("fixtures", index, "universe"),
                                        f"light output '{output.id}' does not carry universe {fixture.universe} "
                                        f"(carries {', '.join(map(str, output.universes))})"))
        try:
            profile = load_fixture_profile(fixture.profile, base)
        except (FileNotFoundError, ConfigError) as exc:
            problems.append(doc.problem(("fixtures", index, "profile"), str(exc)))
            continue
        mode = profile.modes.get(fixture.mode)
        if mode is None:
            problems.append(doc.problem(("fixtures", index, "mode"),
                                        f"profile '{profile.name}' has no mode '{fixture.mode}' "
                                        f"(has: {', '.join(profile.modes)})"))
            continue
        last = fixture.address + mode.footprint - 1
        if last > DMX_UNIVERSE_SIZE:
            problems.append(doc.problem(("fixtures", index, "address"),
                                        f"{fixture.address} + {mode.footprint} channels overflows universe "
                                        f"{fixture.universe} ({DMX_UNIVERSE_SIZE} channels)"))
            continue
        key = (fixture.output, fixture.universe)
        for first_other, last_other, other in occupied.get(key, []):
            if fixture.address <= last_other and first_other <= last:
                problems.append(doc.problem(
                    ("fixtures", index, "address"),
                    f"channels {fixture.address}-{last} overlap fixtures[{other}] '{rig.fixtures[other].id}' "
                    f"(channels {first_other}-{last_other}) on {fixture.output} universe {fixture.universe}"))
        occupied.setdefault(key, []).append((fixture.address, last, index))
    return problems


def load_rig(path: str | Path, known_drivers: Mapping[str, Sequence[str]] | None = None) -> LoadedRig:
    """Load and check a rig file; raises ConfigError listing every problem with its line.

    ``known_drivers`` maps a device kind (camera, light, trigger, turntable) to the driver names installed;
    when given, a rig naming any other driver is rejected.
    """
    path = Path(path)
    doc = load_located_yaml(path)
    rig = _validate(RigConfig, doc)
    problems = _check_rig(rig, doc, path.parent, known_drivers)
    if problems:
        raise ConfigError(problems)
    return LoadedRig(rig, path, path.read_text(encoding="utf-8"))


def selected_cameras(rig: RigConfig, plan: PlanConfig) -> tuple[str, ...]:
    """Camera ids the plan fires in every take, in rig order."""
    groups = rig.groups()
    wanted: set[str] = set()
    for name in plan.camera_groups:
        wanted.update(groups.get(name, (name,)))
    return tuple(c.id for c in rig.cameras if c.id in wanted)


def _check_plan(plan: PlanConfig, rig: RigConfig, doc: LocatedDocument, rig_name: str) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for section, what in (("poses", "pose"), ("stations", "station"), ("lighting", "lighting condition"),
                          ("brackets", "bracket")):
        problems += _duplicates(doc, section, [item.id for item in getattr(plan, section)], what)
    turntable = rig.turntable
    for index, station in enumerate(plan.stations):
        if (station.angle_deg is None) == (station.position is None):
            problems.append(doc.problem(("stations", index), "give exactly one of angle_deg or position"))
        elif station.angle_deg is not None:
            if turntable is None:
                problems.append(doc.problem(("stations", index, "angle_deg"),
                                            f"the rig ({rig_name}) has no turntable to turn to "
                                            f"{station.angle_deg:g} degrees"))
            elif not turntable.min_deg <= station.angle_deg <= turntable.max_deg:
                problems.append(doc.problem(("stations", index, "angle_deg"),
                                            f"{station.angle_deg:g} is outside turntable '{turntable.id}' travel "
                                            f"{turntable.min_deg:g}..{turntable.max_deg:g} degrees ({rig_name})"))
    fixture_ids = {f.id for f in rig.fixtures}
    for index, condition in enumerate(plan.lighting):
        for fixture in condition.levels:
            if fixture != "*" and fixture not in fixture_ids:
                problems.append(doc.problem(("lighting", index, "levels", fixture),
                                            f"the rig has no fixture '{fixture}'"))
    groups = rig.groups()
    camera_ids = {c.id for c in rig.cameras}
    for index, name in enumerate(plan.camera_groups):
        if name not in groups and name not in camera_ids:
            problems.append(doc.problem(("camera_groups", index),
                                        f"'{name}' is neither a camera group ({', '.join(groups)}) "
                                        f"nor a camera id of rig {rig_name}"))
    chosen = selected_cameras(rig, plan)
    needed = plan.coverage.min_cameras
    if needed is not None and needed > len(chosen):
        problems.append(doc.problem(("coverage", "min_cameras"),
                                    f"{needed} cameras required but camera_groups select only {len(chosen)}"))
    return problems


def load_plan(path: str | Path, rig: LoadedRig) -> LoadedPlan:
    """Load a plan and check it against ``rig`` (stations reachable, groups and fixtures known)."""
    path = Path(path)
    doc = load_located_yaml(path)
    plan = _validate(PlanConfig, doc)
    problems = _check_plan(plan, rig.config, doc, rig.path.name)
    if problems:
        raise ConfigError(problems)
    return LoadedPlan(plan, path, path.read_text(encoding="utf-8"))


