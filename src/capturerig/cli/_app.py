"""The ``capturerig`` command line (typer); every command goes through the public Python API."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.table import Table

import capturerig
from capturerig.cli._agent import agent as agent_command
from capturerig.cli._calibrate import calibrate_app
from capturerig.cli._calibrate_capture import calibrate_capture  # noqa: F401 (adds `calibrate capture`)
from capturerig.cli._calibrate_colour import colour_app
from capturerig.cli._cameras import cameras_app
from capturerig.cli._develop import develop
from capturerig.cli._devices_check import devices_check
from capturerig.cli._lights import lights_app
from capturerig.cli._masks import masks
from capturerig.cli._output import (
    BAD_INPUT,
    FAILED,
    RigOption,
    console,
    errors,
    load_rig_or_studio,
    require_terminal,
)
from capturerig.cli._output import fail as _fail
from capturerig.cli._package import package, print_package, verify
from capturerig.cli._progress import SessionProgress
from capturerig.cli._provenance import provenance_app
from capturerig.cli._qc import qc
from capturerig.cli._serve import serve as serve_command
from capturerig.cli._serve import serve_demo
from capturerig.cli._studio_day import demo_signing_dir, studio_calibration
from capturerig.cli._studio_folder import write_studio_file
from capturerig.cli._subjects import RegistryOption, enrol_demo, purge, subjects_app
from capturerig.cli._trigger import trigger_app
from capturerig.cli._turntable import turntable_app
from capturerig.config import (
    PLATE_POSE_ID,
    LoadedPlan,
    LoadedRig,
    PlanConfig,
    Pose,
    RigConfig,
    default_plan_path,
    default_rig_path,
)
from capturerig.devices import DeviceError, DriverContext, available_drivers, create_camera
from capturerig.devices.remote import check_hosts
from capturerig.engine import (
    JournalError,
    PromptKind,
    RunResult,
    RunState,
    Session,
    capturerig_version,
    pose_prompt,
)
from capturerig.plan import estimate_plan, expand_plan
from capturerig.subjects import CAPTURE_PURPOSE, DEMO_PURPOSE, RegistryError

__all__ = ["app", "main"]

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Drive a capture rig: cameras, lights, turntable; sessions and training packages.")
plan_app = typer.Typer(no_args_is_help=True, help="Check a plan and estimate what it costs.")
devices_app = typer.Typer(no_args_is_help=True, help="See the rig's devices.")
app.add_typer(plan_app, name="plan")
app.add_typer(devices_app, name="devices")
app.add_typer(lights_app, name="lights")
app.add_typer(turntable_app, name="turntable")
app.add_typer(cameras_app, name="cameras")
app.add_typer(trigger_app, name="trigger")
app.add_typer(subjects_app, name="subjects")
app.command("purge")(purge)
app.add_typer(calibrate_app, name="calibrate")
app.add_typer(colour_app, name="colour")
app.add_typer(provenance_app, name="provenance")
devices_app.command("check")(devices_check)
app.command("serve")(serve_command)
app.command("agent")(agent_command)
app.command("package")(package)
app.command("verify")(verify)
app.command("develop")(develop)
app.command("masks")(masks)
app.command("qc")(qc)
# Plug-ins add command groups (the simulator's `capturerig sim`) through an entry point: core never
# imports them.
for _plugin in entry_points(group="capturerig.cli_plugins"):
    app.add_typer(_plugin.load(), name=_plugin.name)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Bad input and failed devices end the command with a clear message and its exit code, not a traceback."""
    try:
        yield
    except (capturerig.PreflightFailed, DeviceError) as exc:
        raise _fail(str(exc), FAILED) from exc
    except (capturerig.ConfigError, capturerig.ConsentRefused, capturerig.IncompleteSession, FileExistsError,
            FileNotFoundError, RegistryError, JournalError) as exc:
        raise _fail(str(exc), BAD_INPUT) from exc


@contextmanager
def _abort_on_signal(session: Session) -> Iterator[None]:
    """First Ctrl-C (or SIGTERM) aborts at the next take boundary; a second one stops at once."""
    def handler(signum: int, frame: FrameType | None) -> None:
        errors.print("[yellow]aborting at the next take boundary (Ctrl-C again to stop now; lights go safe)")
        session.abort()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, handler), signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])


def _require_terminal_for_poses(yes: bool, rig: RigConfig, plan: PlanConfig, verified: set[str]) -> None:
    """Without --yes the run asks before each operator-confirmed pose it still has to shoot: refuse (exit 2)
    before the preflight when there is no terminal to ask on."""
    poses = list(dict.fromkeys(take.pose.id for take in expand_plan(rig, plan)
                               if take.pose.operator_confirmed and take.id not in verified))
    if poses:
        require_terminal(yes, f"pose {', '.join(poses)} needs the operator's confirmation" if len(poses) == 1
                         else f"poses {', '.join(poses)} need the operator's confirmation")


def confirm_prompt_text(pose: Pose, previous_pose_id: str | None) -> str:
    """The terminal's question before ``pose`` (Enter answers yes): the clean plates ask for the rig cleared."""
    prompt = pose_prompt(pose, previous_pose_id)
    if prompt.kind is PromptKind.PLATE:
        return ("Clear the rig for the clean plates: nobody and nothing in it (the subject, props, stands, yourself), "
                "lights and cameras as they are; then press Enter to shoot the empty rig")
    return prompt.question


def _run(session: Session, confirm: bool) -> RunResult:
    asked: list[str] = []  # the poses asked so far: the first subject pose after the plates asks for it back

    def confirm_pose(pose: Pose) -> bool:
        if not confirm:
            return True
        text = confirm_prompt_text(pose, asked[-1] if asked else None)
        asked.append(pose.id)
        try:
            return typer.confirm(text, default=True)
        except typer.Abort:  # end of input or Ctrl-C at the prompt: no, abort the session (lights safe)
            return False

    with SessionProgress(console) as progress, _abort_on_signal(session):
        session.subscribe(progress)
        result = session.run(confirm_pose)
    return result


def _report(session: Session, result: RunResult) -> None:
    console.print(f"session {session.folder.info.session_id}: {result.takes_verified}/{result.takes_total} takes "
                  f"verified ({result.takes_shot_now} shot in this run) in {session.path}")
    if result.state != RunState.DONE:
        raise _fail(f"session {result.state.value}: {result.error}\n"
                    f"resume with: capturerig resume {session.path}", FAILED)


@app.command()
def demo(out: Annotated[Path, typer.Option(help="folder for the session and its package")] = Path("capturerig-demo"),
         subject: Annotated[str, typer.Option(help="subject id recorded with the session")] = "demo-subject",
         serve: Annotated[bool, typer.Option("--serve/--no-serve", help="end by serving the web panel on the "
                                             "demo's folder (Ctrl-C stops it)")] = True,
         demo_rig: Annotated[Path | None, typer.Option("--rig", help="a simulated rig to use instead of the "
                                                       "embedded studio (a copy you edit)")] = None) -> None:
    """A studio day on the simulated studio: calibrate (or reuse today's calibration), capture a subject,
    package it for training with both calibrations, then serve the web panel."""
    started = time.monotonic()
    with _user_errors():
        rig = capturerig.load_rig(demo_rig or default_rig_path())
        plan = capturerig.load_plan(default_plan_path(), rig)
        estimate = estimate_plan(rig.config, plan.config)
        console.print(f"simulated studio: {len(rig.config.cameras)} cameras, {len(rig.config.fixtures)} fixtures; "
                      f"plan {plan.config.name}: {estimate.takes} takes, {estimate.images} images")
        calibration = studio_calibration(rig, out / "calibration")
        registry = enrol_demo(out, subject)  # the demo's own registry: a stand-in subject, visibly consented
        session = Session.create(rig, plan, subject, out / "sessions" / f"{subject}-{_stamp()}",
                                 purpose=DEMO_PURPOSE, registry=registry)
        try:
            result = _run(session, confirm=False)
            _report(session, result)
        finally:
            session.close()
        signing = demo_signing_dir(out / "signing")
        package = capturerig.package_session(session.path, out / "packages" / session.path.name,
                                             geometry=calibration.geometry, colour=calibration.colour, sign="on",
                                             signing_dir=signing)
    print_package(package)
    write_studio_file(out.absolute(), registry.absolute(), DEMO_PURPOSE)
    console.print(f"studio day done in {time.monotonic() - started:.0f} s: calibration {calibration.id}, "
                  f"session {session.path.name}, package {package.out_dir}; the panel on this studio folder "
                  f"later: capturerig serve {out}", highlight=False)
    if serve:
        serve_demo(out, registry, DEMO_PURPOSE)


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


@app.command()
def run(rig: Annotated[Path, typer.Option("--rig", help="rig file")],
        plan: Annotated[Path, typer.Option("--plan", help="plan file")],
        subject: Annotated[str, typer.Option("--subject", help="subject id (consent is checked for it)")],
        out: Annotated[Path | None, typer.Option("--out", help="session folder (default: rig storage root)")] = None,
        yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask the operator to confirm poses")] = False,
        purpose: Annotated[str, typer.Option("--purpose", help="the use the subject's consent must cover")] = (
            CAPTURE_PURPOSE),
        registry: RegistryOption = None) -> None:
    """Capture a session: preflight, then every take of the plan, journalled and verified."""
    with _user_errors():
        loaded_rig = capturerig.load_rig(rig)
        loaded_plan = capturerig.load_plan(plan, loaded_rig)
        _require_terminal_for_poses(yes, loaded_rig.config, loaded_plan.config, set())
        session = Session.create(loaded_rig, loaded_plan, subject, out, purpose=purpose, registry=registry)
        console.print(f"session folder: {session.path}")
        try:
            _report(session, _run(session, confirm=not yes))
        finally:
            session.close()


@app.command()
def resume(session_dir: Annotated[Path, typer.Argument(help="the interrupted session's folder")],
           yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask to confirm poses")] = False,
           registry: RegistryOption = None) -> None:
    """Finish an interrupted session: redo only what the journal cannot prove done."""
    with _user_errors():
        session = Session.open(session_dir, registry=registry)
        try:
            verified = {take_id for take_id, record in session.folder.journal.takes().items()
                        if record.status == "verified"}
            _require_terminal_for_poses(yes, session.folder.rig.config, session.folder.plan.config, verified)
            _report(session, _run(session, confirm=not yes))
        finally:
            session.close()


def _load_rig_and_plan(rig: Path, plan: Path) -> tuple[LoadedRig, LoadedPlan]:
    with _user_errors():
        loaded_rig = capturerig.load_rig(rig)
        return loaded_rig, capturerig.load_plan(plan, loaded_rig)


@plan_app.command("validate")
def plan_validate(rig: Annotated[Path, typer.Argument()], plan: Annotated[Path, typer.Argument()]) -> None:
    """Check a rig and a plan; print every problem with its file, line and field."""
    loaded_rig, loaded_plan = _load_rig_and_plan(rig, plan)
    takes = expand_plan(loaded_rig.config, loaded_plan.config)
    console.print(f"{rig}: ok ({len(loaded_rig.config.cameras)} cameras, {len(loaded_rig.config.fixtures)} fixtures)")
    console.print(f"{plan}: ok ({len(takes)} takes)")


@plan_app.command("estimate")
def plan_estimate(rig: Annotated[Path, typer.Argument()], plan: Annotated[Path, typer.Argument()]) -> None:
    """Takes, images, hold time per pose, session time and disk space of a plan on a rig."""
    loaded_rig, loaded_plan = _load_rig_and_plan(rig, plan)
    with _user_errors():
        estimate = estimate_plan(loaded_rig.config, loaded_plan.config, loaded_rig.path.parent)
    table = Table(title=f"{loaded_plan.config.name} on {loaded_rig.config.name}")
    table.add_column("what")
    table.add_column("estimate", justify="right")
    table.add_row("takes", str(estimate.takes))
    table.add_row("images", str(estimate.images))
    for pose_id, seconds in estimate.hold_s_by_pose.items():  # nobody holds the plates: the empty rig's time
        table.add_row("clean plates (the empty rig)" if pose_id == PLATE_POSE_ID else f"hold time, pose {pose_id}",
                      f"{seconds:.1f} s")
    table.add_row("session time", f"{estimate.session_s:.1f} s")
    table.add_row("disk space", f"{estimate.disk_bytes / 1e6:.1f} MB")
    console.print(table)


@devices_app.command("list")
def devices_list(rig: RigOption = None) -> None:
    """List the rig's devices and whether each answers (cameras report model and serial)."""
    with _user_errors():
        loaded = load_rig_or_studio(rig)
    config = loaded.config
    if config.hosts:
        hosts = Table(title=f"capture hosts of rig {config.name}")
        for column in ("host", "cameras", "status"):
            hosts.add_column(column)
        for report in check_hosts(config, loaded.path.parent, capturerig_version(), 5.0):
            state = "ok: " + report.detail if report.problem is None else f"[red]{report.problem}"
            hosts.add_row(report.host, str(len(config.host(report.host).cameras)), state)
        console.print(hosts)
    table = Table(title=f"rig {config.name}")
    for column in ("id", "kind", "driver", "group / universes", "serial", "status"):
        table.add_column(column)
    context = DriverContext(config, loaded.path.parent)
    for camera_config in config.cameras:
        camera = create_camera(camera_config, context)
        serial = ""
        try:
            status = camera.connect(5.0)
            serial, state = status.serial, "ok"
            if status.serial != camera_config.serial:
                state = f"[red]rig says {camera_config.serial}"
        except DeviceError as exc:
            state = f"[red]{exc}"
        finally:
            camera.close()
        table.add_row(camera_config.id, "camera", camera_config.driver, camera_config.group, serial, state)
    for output in config.light_outputs:
        table.add_row(output.id, "light output", output.driver, ", ".join(map(str, output.universes)), "", "")
    if config.trigger:
        table.add_row(config.trigger.id, "trigger", config.trigger.driver, "", "", "")
    if config.turntable:
        table.add_row(config.turntable.id, "turntable", config.turntable.driver,
                      f"{config.turntable.min_deg:g}..{config.turntable.max_deg:g} deg", "", "")
    console.print(table)
    console.print("installed drivers: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in available_drivers().items()))


def main() -> None:
    app()
