"""`capturerig qc`: the per-image checks over a session's verified files, in take order."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from capturerig.cli._output import BAD_INPUT, FAILED, console, fail

if TYPE_CHECKING:
    from capturerig.qc import TakeQc

__all__ = ["qc"]


def qc(
    session_dir: Annotated[Path, typer.Argument(help="a session folder (its journal names the verified files)")],
    json_out: Annotated[Path | None, typer.Option("--json", help="write every file's checks here as JSON")] = None,
    geometry: Annotated[Path | None, typer.Option(
        "--geometry", help="geometry.json from calibration: the cameras the subject region (the capture volume) is "
                           "projected through; default the rig file's nominal poses")] = None,
) -> None:
    """Check every verified image of a session: sharpness, exposure, stale files, light, black frames, a moved
    view. Exit 0 when all are ok or warn, 1 with any fail."""
    from capturerig.config import PLATE_POSE_ID
    from capturerig.engine import JournalError, Session
    from capturerig.plan import expand_plan
    from capturerig.qc import QcError, QcFile, QcRunner, Verdict, rig_volume, session_views, subject_regions

    try:
        session = Session.open(session_dir)
    except (JournalError, OSError, ValueError) as exc:
        raise fail(f"{escape(str(session_dir))}: not a session folder it can read ({escape(str(exc))})",
                   BAD_INPUT) from exc
    try:
        folder = session.folder
        takes = {take.id: take for take in expand_plan(folder.rig.config, folder.plan.config)}
        files = folder.journal.verified_files()
    finally:
        session.close()
    by_take: dict[str, list[QcFile]] = {}
    for record in files:  # in take order (the journal's ordinal), cameras sorted within a take
        if record.take_id is None or record.camera_id is None:
            continue
        by_take.setdefault(record.take_id, []).append(
            QcFile(session_dir / record.path, record.camera_id, record.format or "jpeg"))
    if not by_take:
        raise fail(f"{escape(str(session_dir))}: no verified take to check", BAD_INPUT)
    try:
        cameras, source = session_views(folder.rig.config, geometry)
    except ValueError as exc:
        raise fail(escape(str(exc)), BAD_INPUT) from exc
    regions = subject_regions(cameras, source, rig_volume(folder.rig.config))
    outside = sorted(camera_id for camera_id, region in regions.items() if region.centre)
    console.print(f"subject region: the capture volume through the {source} geometry"
                  + (f" ({', '.join(outside)} do not see it: the centre of their frames)" if outside else ""))
    # The plan's own thresholds, as the session's checks used them while it was shot.
    runner = QcRunner([camera.id for camera in folder.rig.config.cameras], folder.plan.config.qc, masks=regions)
    results: list[TakeQc] = []
    started = time.monotonic()
    try:
        for take_id, take_files in by_take.items():
            take = takes.get(take_id)
            light = take.lighting.state_id if take else None  # a take the plan no longer has: history only
            station = take.station.id if take else None
            plate = take is not None and take.pose.id == PLATE_POSE_ID  # the empty rig: the plates' own baseline
            results.append(runner.check_take(take_id, light, take_files, station=station, plate=plate))
    except QcError as exc:
        raise fail(escape(str(exc)), FAILED) from exc
    elapsed = time.monotonic() - started
    _print(results)
    checked = [f for take in results for f in take.files]
    counts = {verdict: sum(1 for f in checked if f.verdict is verdict) for verdict in Verdict}
    seconds = sorted(f.seconds for f in checked)
    console.print(f"checked {len(checked)} images of {len(results)} takes in {elapsed:.1f} s "
                  f"(median {1e3 * seconds[len(seconds) // 2]:.0f} ms per image, one core): "
                  f"{counts[Verdict.OK]} ok, {counts[Verdict.WARN]} warn, {counts[Verdict.FAIL]} fail")
    if json_out is not None:
        document = {"session": str(session_dir), "takes": [take.to_json() for take in results],
                    "summary": {verdict.value: count for verdict, count in counts.items()}}
        json_out.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        console.print(f"wrote {escape(str(json_out))}")
    if counts[Verdict.FAIL]:
        raise typer.Exit(FAILED)


def _print(results: list[TakeQc]) -> None:
    from capturerig.qc import Verdict

    table = Table(title="images that need a look")
    for column in ("take", "camera", "file", "check", "verdict", "what to do"):
        table.add_column(column)
    rows = 0
    for take in results:
        for checked in take.files:
            for problem in checked.problems():
                colour = "red" if problem.verdict is Verdict.FAIL else "yellow"
                table.add_row(take.take_id, checked.camera_id, Path(checked.path).name, problem.check,
                              f"[{colour}]{problem.verdict.value}", escape(problem.reason))
                rows += 1
    if rows:
        console.print(table)
    else:
        console.print("[green]every image passed every check")
