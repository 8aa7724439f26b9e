"""What every command shares: its consoles, the --rig option and how a command ends on an error."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

__all__ = ["RigOption", "console", "errors", "fail"]

console = Console(soft_wrap=True)  # paths must stay whole to be copied
errors = Console(stderr=True, soft_wrap=True)

RigOption = Annotated[Path | None, typer.Option("--rig", help="rig file (default: the simulated studio)")]


def fail(message: str, code: int) -> typer.Exit:
    """Print ``message`` as an error and return the Exit to raise (1: device/run failure, 2: bad input)."""
    errors.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)
