"""Load rig and plan files into frozen models; every problem is reported with file, line and field."""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from capturerig.config._dmx import DMX_UNIVERSE_SIZE
from capturerig.config._drivers import DriverCatalog, check_drivers
from capturerig.config._errors import ConfigError, ConfigProblem, FieldPath
from capturerig.config._hosts import check_hosts
from capturerig.config._lighting import FixtureCommand, LightingCondition, generated_ids, selected_fixtures
from capturerig.config._plan import PlanConfig
from capturerig.config._profiles import FixtureMode, load_body_profile, load_fixture_profile
from capturerig.config._rig import RigConfig
from capturerig.config._validation import PLAN_ID_PATTERN, validate_document
from capturerig.config._yaml import LocatedDocument, load_located_yaml

__all__ = [
    "LoadedPlan",
    "LoadedRig",
    "default_calibration_plan_path",
    "default_chart_plan_path",
    "default_plan_path",
    "default_rig_path",
    "load_plan",
    "load_rig",
    "selected_cameras",
]


def default_rig_path() -> Path:
    """The embedded simulated studio (16 cameras on two rings, 8 fixtures)."""
    return Path(str(resources.files("capturerig.config") / "defaults" / "rig.yaml"))


def default_plan_path() -> Path:
    """The embedded demo plan (1 pose x 2 stations x 4 lighting states)."""
    return Path(str(resources.files("capturerig.config") / "defaults" / "plan.yaml"))


def default_calibration_plan_path() -> Path:
    """The embedded geometry calibration plan of the simulated studio (40 ChArUco board positions)."""
    return Path(str(resources.files("capturerig.config") / "defaults" / "calibration-plan.yaml"))


def default_chart_plan_path() -> Path:
    """The embedded colour calibration plan of the simulated studio (one chart shot per camera)."""
    return Path(str(resources.files("capturerig.config") / "defaults" / "colour-chart-plan.yaml"))


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


def _raise_if_any(doc: LocatedDocument, problems: Sequence[ConfigProblem]) -> None:
    """Raise one ConfigError for all problems: this file's in line order, then those of files it names."""
    unique = list(dict.fromkeys(problems))
    if unique:
        unique.sort(key=lambda p: (p.file != doc.name, p.file, p.line or 0))
        raise ConfigError(unique)


def _duplicates(doc: LocatedDocument, section: str, ids: Sequence[str], what: str) -> list[ConfigProblem]:
    seen: dict[str, int] = {}
    problems = []
    for index, item_id in enumerate(ids):
        if item_id in seen:
            first = seen[item_id]
            problems.append(doc.problem(
                (section, index, "id"),
                f"duplicate {what} id '{item_id}' (first at {section}[{first}], "
                f"line {doc.line_of((section, first, 'id'))}); ids must be unique"))
        else:
            seen[item_id] = index
    return problems


def _profile_problems(doc: LocatedDocument, path: FieldPath, what: str, name: str,
                      exc: FileNotFoundError | ConfigError) -> list[ConfigProblem]:
    """A profile that is missing, or broken: then its own problems (in its own file) come along."""
    if isinstance(exc, FileNotFoundError):
        return [doc.problem(path, str(exc))]
    return [doc.problem(path, f"{what} '{name}' is not valid; see the problems reported for "
                              f"{exc.problems[0].file}"), *exc.problems]


def _check_cameras(rig: RigConfig, doc: LocatedDocument, base: Path) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    serials: dict[str, int] = {}
    for index, camera in enumerate(rig.cameras):
        if camera.serial in serials:
            first = serials[camera.serial]
            problems.append(doc.problem(
                ("cameras", index, "serial"),
                f"duplicate serial '{camera.serial}': cameras[{first}] '{rig.cameras[first].id}' has it too; "
                "each camera body has its own serial"))
        serials.setdefault(camera.serial, index)
        try:
            camera.pose.cam_from_world()
        except ValueError as exc:
            problems.append(doc.problem(("cameras", index, "pose"), str(exc)))
        try:
            body = load_body_profile(camera.body, base)
        except (FileNotFoundError, ConfigError) as exc:
            problems += _profile_problems(doc, ("cameras", index, "body"), "camera body profile", camera.body, exc)
            continue
        for k, fmt in enumerate(camera.formats):
            if fmt not in body.formats:
                problems.append(doc.problem(("cameras", index, "formats", k),
                                            f"body '{body.name}' has no format '{fmt}' "
                                            f"(has: {', '.join(body.formats)})"))
    return problems


def _check_fixtures(rig: RigConfig, doc: LocatedDocument, base: Path) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    outputs = {o.id: o for o in rig.light_outputs}
    # (output, universe) -> (first channel, last channel, fixture index) of the fixtures placed so far
    occupied: dict[tuple[str, int], list[tuple[int, int, int]]] = {}
    for index, fixture in enumerate(rig.fixtures):
        output = outputs.get(fixture.output)
        if output is None:
            problems.append(doc.problem(
                ("fixtures", index, "output"),
                f"no light output '{fixture.output}' (light_outputs: {', '.join(outputs) or 'none'})"))
        elif fixture.universe not in output.universes:
            problems.append(doc.problem(
                ("fixtures", index, "universe"),
                f"light output '{output.id}' does not carry universe {fixture.universe} "
                f"(carries {', '.join(map(str, output.universes))})"))
        try:
            profile = load_fixture_profile(fixture.profile, base)
        except (FileNotFoundError, ConfigError) as exc:
            problems += _profile_problems(doc, ("fixtures", index, "profile"), "fixture profile",
                                          fixture.profile, exc)
            continue
        mode = profile.modes.get(fixture.mode)
        if mode is None:
            problems.append(doc.problem(("fixtures", index, "mode"),
                                        f"profile '{fixture.profile}' has no mode '{fixture.mode}' "
                                        f"(has: {', '.join(profile.modes)})"))
            continue
        last = fixture.address + mode.footprint - 1
        if last > DMX_UNIVERSE_SIZE:
            problems.append(doc.problem(
                ("fixtures", index, "address"),
                f"{fixture.address} + {mode.footprint} channels overflows universe {fixture.universe} "
                f"({DMX_UNIVERSE_SIZE} channels); mode '{fixture.mode}' can start at "
                f"{DMX_UNIVERSE_SIZE - mode.footprint + 1} at the latest"))
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


def _check_rig(rig: RigConfig, doc: LocatedDocument, base: Path,
               drivers: DriverCatalog | None) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    problems += _duplicates(doc, "cameras", [c.id for c in rig.cameras], "camera")
    problems += _duplicates(doc, "light_outputs", [o.id for o in rig.light_outputs], "light output")
    problems += _duplicates(doc, "fixtures", [f.id for f in rig.fixtures], "fixture")
    problems += _check_cameras(rig, doc, base)
    if drivers is not None:
        problems += check_drivers(rig, doc, drivers)
    problems += _check_fixtures(rig, doc, base)
    problems += _check_scenes(rig, doc, base)
    problems += check_hosts(rig, doc)
    return problems


def _fixture_modes(rig: RigConfig, base: Path) -> dict[str, FixtureMode]:
    """The mode of every fixture whose profile loads (the others are reported by _check_fixtures)."""
    modes = {}
    for fixture in rig.fixtures:
        try:
            mode = load_fixture_profile(fixture.profile, base).modes.get(fixture.mode)
        except (FileNotFoundError, ConfigError):
            continue
        if mode is not None:
            modes[fixture.id] = mode
    return modes


def _command_problems(command: FixtureCommand, key: str, modes: dict[str, FixtureMode]) -> list[tuple[str, str]]:
    """(field, message) for a CCT or strobe rate that a fixture addressed by ``key`` cannot make."""
    problems = []
    for fixture_id, mode in modes.items():
        if key not in ("*", fixture_id):
            continue
        for channel in mode.channels:
            if channel.part:
                continue
            if channel.role == "cct" and command.cct is not None:
                spans = [c.kelvin for c in channel.capabilities if c.kelvin is not None]
                if spans and not any(min(s) <= command.cct <= max(s) for s in spans):
                    lo, hi = min(min(s) for s in spans), max(max(s) for s in spans)
                    problems.append(("cct", f"{command.cct:g} K is outside fixture '{fixture_id}''s range "
                                            f"{lo:g}..{hi:g} K"))
            if channel.role == "strobe" and command.strobe_hz:
                spans = [c.hz for c in channel.capabilities if c.hz is not None and c.shutter in (None, "Strobe")]
                if not any(min(s) <= command.strobe_hz <= max(s) for s in spans):
                    can = ", ".join(f"{min(s):g}..{max(s):g} Hz" for s in spans) or "no strobe rates"
                    problems.append(("strobe_hz", f"fixture '{fixture_id}' cannot strobe at "
                                                  f"{command.strobe_hz:g} Hz ({can})"))
    return list(dict.fromkeys(problems))


def check_lighting_entries(entries: Sequence[LightingCondition], section: str, rig: RigConfig,
                           doc: LocatedDocument, base: Path, rig_label: str) -> list[ConfigProblem]:
    """Fixtures named by lighting states and generators exist, commands fit them, generated ids are unique."""
    problems: list[ConfigProblem] = []
    fixture_ids = [f.id for f in rig.fixtures]
    known = f"fixtures: {', '.join(fixture_ids) or 'none'}; '*' means every fixture"
    modes = _fixture_modes(rig, base)
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        for key, command in entry.levels.items():
            if key != "*" and key not in fixture_ids:
                problems.append(doc.problem((section, index, "levels", key),
                                            f"{rig_label} has no fixture '{key}' ({known})"))
            for field, message in _command_problems(command, key, modes):
                problems.append(doc.problem((section, index, "levels", key, field), message))
        if entry.generator is not None:
            names = (entry.fixtures,) if isinstance(entry.fixtures, str) else entry.fixtures
            for k, name in enumerate(names):
                if name != "*" and name not in fixture_ids:
                    where: FieldPath = (section, index, "fixtures") if isinstance(entry.fixtures, str) else (
                        section, index, "fixtures", k)
                    problems.append(doc.problem(where, f"{rig_label} has no fixture '{name}' ({known})"))
            if not selected_fixtures(entry.fixtures, fixture_ids):
                problems.append(doc.problem((section, index, "fixtures"),
                                            f"the {entry.generator} generator selects no fixture of {rig_label}"))
            for field, message in _command_problems(entry.command, "*", modes):
                problems.append(doc.problem((section, index, "command", field), message))
        for state_id, _ in generated_ids(entry, fixture_ids):
            if not re.match(PLAN_ID_PATTERN, state_id):
                problems.append(doc.problem((section, index, "id"), f"generates the id '{state_id}', which is "
                                            "not a valid plan id (use a shorter id prefix)"))
            elif state_id in seen:
                first = seen[state_id]
                problems.append(doc.problem(
                    (section, index, "id"),
                    f"duplicate lighting condition id '{state_id}' (first at {section}[{first}], line "
                    f"{doc.line_of((section, first, 'id')) or doc.line_of((section, first))}); ids must be unique"))
            else:
                seen[state_id] = index
    return problems


def _check_scenes(rig: RigConfig, doc: LocatedDocument, base: Path) -> list[ConfigProblem]:
    problems = check_lighting_entries(rig.scenes, "scenes", rig, doc, base, f"rig '{rig.name}'")
    for index, scene in enumerate(rig.scenes):
        if scene.generator is not None:
            problems.append(doc.problem(("scenes", index, "generator"),
                                        "a rig scene is one lighting state; put generators in the plan"))
    names = [s.id for s in rig.scenes if s.id is not None]
    if rig.safe_state != "blackout" and rig.safe_state not in names:
        problems.append(doc.problem(("safe_state",), f"'{rig.safe_state}' is neither blackout nor a scene of "
                                                     f"this rig (scenes: {', '.join(names) or 'none'})"))
    return problems


def load_rig(path: str | Path, drivers: DriverCatalog | None = None) -> LoadedRig:
    """Load and check a rig file; raises ConfigError listing every problem with its line.

    Parameters
    ----------
    path : str or Path
        The rig file; relative profile paths in it mean its folder.
    drivers : DriverCatalog, optional
        The installed drivers (``capturerig.devices.installed_drivers()``; ``capturerig.load_rig`` passes
        it). When given, a device naming a driver that is not installed is refused, and every device's
        ``params`` are validated against its driver's params model, each bad param reported at its line.
        Without it (tools that only read the rig) drivers and params are checked when a device is made.
    """
    path = Path(path)
    doc = load_located_yaml(path)
    rig = validate_document(RigConfig, doc, "a rig")
    _raise_if_any(doc, _check_rig(rig, doc, path.parent, drivers))
    return LoadedRig(rig, path, doc.text)


def selected_cameras(rig: RigConfig, plan: PlanConfig) -> tuple[str, ...]:
    """Camera ids the plan fires in every take, in rig order."""
    groups = rig.groups()
    wanted: set[str] = set()
    for name in plan.camera_groups:
        wanted.update(groups.get(name, (name,)))
    return tuple(c.id for c in rig.cameras if c.id in wanted)


def _check_stations(plan: PlanConfig, rig: RigConfig, doc: LocatedDocument, rig_label: str) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    turntable = rig.turntable
    for index, station in enumerate(plan.stations):
        if station.angle_deg is not None and station.position is not None:
            problems.append(doc.problem(("stations", index),
                                        "gives both angle_deg and position; give exactly one "
                                        "(angle_deg for a turntable angle, position for a named rig position)"))
        elif station.angle_deg is None and station.position is None:
            problems.append(doc.problem(("stations", index),
                                        "needs angle_deg (a turntable angle) or position (a named rig position)"))
        elif station.angle_deg is not None:
            if turntable is None:
                problems.append(doc.problem(("stations", index, "angle_deg"),
                                            f"{rig_label} has no turntable to turn to {station.angle_deg:g} "
                                            "degrees; use position: for a rig without one"))
            elif not turntable.min_deg <= station.angle_deg <= turntable.max_deg:
                problems.append(doc.problem(("stations", index, "angle_deg"),
                                            f"{station.angle_deg:g} degrees is outside the travel "
                                            f"{turntable.min_deg:g}..{turntable.max_deg:g} of turntable "
                                            f"'{turntable.id}' ({rig_label})"))
    return problems


def _check_plan(plan: PlanConfig, rig: RigConfig, doc: LocatedDocument, rig_file: str,
                base: Path) -> list[ConfigProblem]:
    rig_label = f"rig '{rig.name}' in {rig_file}"
    problems: list[ConfigProblem] = []
    for section, what in (("poses", "pose"), ("stations", "station"), ("brackets", "bracket")):
        problems += _duplicates(doc, section, [item.id for item in getattr(plan, section)], what)
    problems += _check_stations(plan, rig, doc, rig_label)
    problems += check_lighting_entries(plan.lighting, "lighting", rig, doc, base, rig_label)
    groups = rig.groups()
    camera_ids = {c.id for c in rig.cameras}
    for index, name in enumerate(plan.camera_groups):
        if name not in groups and name not in camera_ids:
            problems.append(doc.problem(("camera_groups", index),
                                        f"'{name}' is neither a camera group ({', '.join(groups)}) "
                                        f"nor a camera id of {rig_label}"))
    chosen = selected_cameras(rig, plan)
    needed = plan.coverage.min_cameras
    if needed is not None and needed > len(chosen):
        problems.append(doc.problem(("coverage", "min_cameras"),
                                    f"{needed} cameras required but camera_groups "
                                    f"({', '.join(plan.camera_groups)}) select only {len(chosen)}; "
                                    f"use at most {len(chosen)} or select more cameras"))
    return problems


def load_plan(path: str | Path, rig: LoadedRig) -> LoadedPlan:
    """Load a plan and check it against ``rig`` (stations reachable, groups and fixtures known)."""
    path = Path(path)
    doc = load_located_yaml(path)
    plan = validate_document(PlanConfig, doc, "a plan")
    _raise_if_any(doc, _check_plan(plan, rig.config, doc, rig.path.name, rig.path.parent))
    return LoadedPlan(plan, path, doc.text)
