"""``capturerig calibrate capture``: shoot a calibration plan and coach the technician while the board moves.

Each take is one board position. As each take is verified its images are searched for the board (in a
worker thread, so the capture never waits for it); the terminal shows which cameras found it, and at the
end (and on the way) a table of good views and image coverage per camera, naming where each camera still
misses the board ("cam07: no corners in the top-left").
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

import capturerig
from capturerig.calibration import BoardSpec, load_board
from capturerig.cli._calibrate import calibrate_app
from capturerig.cli._output import BAD_INPUT, FAILED, console, fail, require_terminal
from capturerig.cli._progress import SessionProgress
from capturerig.config import ConfigError, LoadedPlan, PlanKind, Pose, RigConfig
from capturerig.engine import BoardCoach, RunState, Session, missing_regions

__all__ = ["CalibrationCoach", "calibrate_capture", "coverage_hints"]

def coverage_hints(grid: np.ndarray) -> list[str]:
    """The regions of an image (top-left ... bottom-right) where no board corner has been found yet."""
    return missing_regions(grid)


class CalibrationCoach(BoardCoach):
    """The engine's board coach, said on the terminal: which cameras found the board at each position, then a
    table of good views and coverage per camera and what each still needs."""

    def __init__(self, session_dir: Path, board: BoardSpec, rig: RigConfig, min_views: int,
                 report: bool = True) -> None:
        super().__init__(session_dir, board, rig, min_views, on_searched=self._print if report else None)

    @staticmethod
    def _print(position: str, found: dict[str, int]) -> None:
        seen = ", ".join(f"{camera} ({count})" for camera, count in sorted(found.items())) or "no camera"
        console.print(f"board position {position}: corners found by {seen}", highlight=False)

    def advice(self) -> list[str]:
        """What the technician should still do, one line per camera that needs it."""
        lines = []
        with self.lock:
            for camera_id, tally in self.tally.items():
                if tally.views == 0:
                    lines.append(f"{camera_id}: never saw the board; show it the board, close and tilted")
                    continue
                needs = []
                if tally.views < self.min_views:
                    needs.append(f"{tally.views}/{self.min_views} good views")
                missing = missing_regions(tally.grid)
                if missing:
                    needs.append(f"no corners in the {', '.join(missing)} of its image yet: hold the board there")
                if needs:
                    lines.append(f"{camera_id}: {'; '.join(needs)}")
        return lines

    def table(self) -> Table:
        """Good views, corners and image coverage per camera."""
        table = Table(title="board views per camera")
        for column in ("camera", "good views", "corners", "image covered", "still missing"):
            table.add_column(column)
        with self.lock:
            for camera_id, tally in self.tally.items():
                missing = ", ".join(missing_regions(tally.grid)) if tally.views else "everything"
                style = "green" if tally.views >= self.min_views and not missing_regions(tally.grid) else "yellow"
                table.add_row(camera_id, f"[{style}]{tally.views}[/]", str(tally.corners), f"{tally.covered:.0%}",
                              missing or "-")
        return table


def _board_of(plan: LoadedPlan) -> BoardSpec:
    calibration = plan.config.calibration
    if plan.config.kind != PlanKind.CALIBRATION or calibration is None:
        raise ConfigError.single(str(plan.path), f"plan '{plan.config.name}' is of kind {plan.config.kind.value}; "
                                 "calibrate capture needs a plan with kind: calibration and a calibration section")
    relative = plan.path.parent / calibration.board
    return load_board(relative if relative.suffix and relative.exists() else calibration.board)


@calibrate_app.command("capture")
def calibrate_capture(
    rig: Annotated[Path, typer.Option("--rig", help="rig file")],
    plan: Annotated[Path, typer.Option("--plan", help="calibration plan (kind: calibration)")],
    out: Annotated[Path | None, typer.Option("--out", help="session folder (default: rig storage root)")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not wait for the technician at each position")] = False,
) -> None:
    """Shoot a calibration plan: one take per board position, with a live count of good views per camera."""
    try:
        loaded_rig = capturerig.load_rig(rig)
        loaded_plan = capturerig.load_plan(plan, loaded_rig)
        board = _board_of(loaded_plan)
        waits = [pose.id for pose in loaded_plan.config.poses if pose.operator_confirmed]
        if waits:  # one question per board position, asked on the terminal
            require_terminal(yes, f"board position {waits[0]} needs the technician's confirmation" if len(waits) == 1
                             else f"board positions {waits[0]} to {waits[-1]} need the technician's confirmation")
        session = Session.create(loaded_rig, loaded_plan, f"board-{board.name}", out)
    except (ConfigError, FileExistsError, capturerig.ConsentRefused) as exc:
        raise fail(str(exc), BAD_INPUT) from exc
    calibration = loaded_plan.config.calibration
    assert calibration is not None  # _board_of checked it
    console.print(f"session folder: {session.path}\nboard {board.name}: {calibration.frames} positions; sweep "
                  "the capture volume at several heights and tilts, then bring the board close to every camera, "
                  "tilted, until it fills the image out to the corners")

    def confirm(pose: Pose) -> bool:
        try:
            return yes or typer.confirm(f"{pose.id}: {pose.description}. Board in place?", default=True)
        except typer.Abort:  # end of input or Ctrl-C at the prompt: no, stop the session (lights safe)
            return False

    coach = CalibrationCoach(session.path, board, loaded_rig.config, calibration.min_views)
    try:
        with SessionProgress(console) as progress:
            session.subscribe(progress)
            session.subscribe(coach)
            result = session.run(confirm)
    finally:
        coach.close()
        session.close()
    console.print(coach.table())
    advice = coach.advice()
    for line in advice:
        console.print(f"[yellow]{line}[/yellow]", highlight=False)
    if not advice:
        console.print("every camera has enough views and its whole image covered", highlight=False)
    console.print(f"calibrate with: capturerig calibrate geometry --board {board.name} --session {session.path}",
                  highlight=False)
    if result.state != RunState.DONE:
        raise fail(f"session {result.state.value}: {result.error}\nresume with: capturerig resume {session.path}",
                   FAILED)
