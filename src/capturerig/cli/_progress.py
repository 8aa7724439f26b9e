"""Rich progress on the terminal, fed by session events."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from capturerig.config import PLATE_POSE_ID
from capturerig.engine import (
    Event,
    PoseStarted,
    PreflightResult,
    SessionMessage,
    StateChanged,
    TakeFailed,
    TakeSkipped,
    TakeStarted,
    TakeVerified,
)

__all__ = ["SessionProgress"]


class SessionProgress:
    """A progress bar over takes plus one line per notable event; use as a context manager."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), console=console)
        self.task: TaskID | None = None

    def __enter__(self) -> SessionProgress:
        self.progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.progress.stop()

    def _ensure_task(self, total: int) -> TaskID:
        if self.task is None:
            self.task = self.progress.add_task("takes", total=total, detail="")
        return self.task

    def __call__(self, event: Event) -> None:
        if isinstance(event, PreflightResult):
            if not event.ok:
                self.console.print(f"[red]preflight[/red] {event.detail}")
        elif isinstance(event, StateChanged):
            self.console.print(f"session: [bold]{event.state.value}[/bold]" + (f" ({event.reason})" if event.reason
                                                                               else ""))
        elif isinstance(event, PoseStarted) and event.pose_id == PLATE_POSE_ID:
            # Its own line (with --yes nobody was asked): what is shot now must be the empty rig.
            self.console.print("[bold]clean plates[/bold]: shooting the empty rig (it must be clear: nobody and "
                               "nothing in it) at every station, light and bracket")
        elif isinstance(event, PoseStarted):
            self.console.print(f"pose {event.pose_id}: {event.description}")
        elif isinstance(event, TakeStarted):
            task = self._ensure_task(event.total)
            retry = f" (attempt {event.attempt})" if event.attempt > 1 else ""
            self.progress.update(task, detail=f"{event.take_id}{retry}")
        elif isinstance(event, (TakeVerified, TakeSkipped)):
            self.progress.advance(self._ensure_task(event.total))
        elif isinstance(event, TakeFailed):
            again = "retrying" if event.will_retry else "giving up"
            self.console.print(f"[yellow]take {event.take_id} attempt {event.attempt} failed[/yellow]: "
                               f"{event.error} ({again})")
        elif isinstance(event, SessionMessage) and event.level != "debug":
            self.console.print(f"[{'red' if event.level == 'error' else 'yellow'}]{event.level}[/]: {event.text}")
