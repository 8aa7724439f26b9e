"""`capturerig develop`: a session's RAW files developed on Dask (a LocalCluster, or a studio's scheduler)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from capturerig.cli._output import BAD_INPUT, FAILED, console, errors, fail

__all__ = ["develop"]


def develop(
    session_dir: Annotated[Path, typer.Argument(help="a session folder (its journal names the RAW files)")],
    out: Annotated[Path, typer.Option("--out", help="folder for DIR/<camera>/<file>.png (and .tif)")],
    colour: Annotated[Path | None, typer.Option("--colour", help="colour.json made from RAW: correct each "
                                                 "camera (default: the camera's own neutral only)")] = None,
    linear: Annotated[bool, typer.Option("--linear", help="also write 16-bit linear TIFF")] = False,
    scheduler: Annotated[str | None, typer.Option("--scheduler", envvar="CAPTURERIG_DASK_SCHEDULER",
                                                   help="a running Dask scheduler, e.g. tcp://10.0.0.5:8786 "
                                                        "(default: a local cluster, one worker per core); a "
                                                        "worker started on capture host NAME with --resources "
                                                        "\"memory_mb=4000,host-NAME=1\" develops the files that "
                                                        "host keeps, from its own copy")] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="local worker processes")] = None,
) -> None:
    """Develop every RAW file of a session: 8-bit sRGB PNG (what trainers read) and 16-bit linear TIFF."""
    from capturerig.engine import JournalError
    from capturerig.processing import ProcessingError, develop_session, open_cluster, raw_files

    try:
        files = raw_files(session_dir)
    except (JournalError, OSError) as exc:
        raise fail(f"{escape(str(session_dir))}: cannot read its journal ({escape(str(exc))})", BAD_INPUT) from exc
    if not files:
        raise fail(f"{escape(str(session_dir))}: no RAW file in its verified takes (formats: raw)", BAD_INPUT)
    if colour is not None and not colour.is_file():
        raise fail(f"--colour {escape(str(colour))}: no such file", BAD_INPUT)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with open_cluster(scheduler, workers) as client, Progress(*columns, console=console) as progress:
            where = scheduler or f"a local cluster of {len(client.scheduler_info()['workers'])} workers"
            task = progress.add_task(f"developing on {where}", total=len(files))
            report = develop_session(session_dir, out, client, colour, linear,
                                     progress=lambda done, _total: progress.update(task, completed=done))
    except ProcessingError as exc:
        raise fail(escape(str(exc)), FAILED) from exc
    for path, problem in sorted(report.failed.items()):
        errors.print(f"[red]{escape(path)}: {escape(problem)}", highlight=False)
    kinds = "8-bit sRGB PNG" + (" and 16-bit linear TIFF" if linear else "")
    console.print(f"developed {len(files) - len(report.failed)} of {len(files)} RAW files to {escape(str(out))} "
                  f"({kinds}{', colour-corrected' if colour else ''})")
    held = sum(1 for raw in files if raw.held is not None)
    if held:  # a session shot on capture hosts that keep their files: say how much stayed on its host
        console.print(f"{report.read_on_host} of {held} files kept on their capture host were read there; the "
                      "rest from the session folder (no worker on that host, or its copy gone or changed)")
    if report.failed:
        raise typer.Exit(FAILED)
