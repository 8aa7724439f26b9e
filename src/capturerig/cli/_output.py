"""What every command shares: its consoles, the --rig option and the rig it falls back to, and how it ends.

Exit codes, the same for every command (README.md lists them too):

0
    Done: what the command did or checked is all right.
1 (:data:`FAILED`)
    The command ran and something failed: a device, a session (failed or aborted), the preflight, a quality
    gate, a package's verification, a camera setting that did not stick, the audit chain; or the operator
    answered no.
2 (:data:`BAD_INPUT`)
    The command did not start its work: a bad option or argument (typer's own usage errors are 2 as well), a
    file that does not load (rig, plan, board, session, registry), something the studio refuses (no consent,
    an output that already exists), or a confirmation it would need with no terminal to ask on (``--yes``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

import capturerig
from capturerig.config import LoadedRig

__all__ = ["BAD_INPUT", "FAILED", "RigOption", "console", "errors", "fail", "load_rig_or_studio",
           "require_terminal"]

FAILED = 1
BAD_INPUT = 2

# Paths must stay whole to be copied; and no ":name:" emoji codes: a fingerprint's ":CD:" or ":AB:" would print as an
# emoji (and file names, ids and hex may hold such pairs).
console = Console(soft_wrap=True, emoji=False)
errors = Console(stderr=True, soft_wrap=True, emoji=False)

RigOption = Annotated[Path | None, typer.Option("--rig", help="rig file (default: the simulated studio)")]


def fail(message: str, code: int) -> typer.Exit:
    """Print ``message`` as an error and return the Exit to raise.

    ``code`` is :data:`FAILED` (1) or :data:`BAD_INPUT` (2), as the module docstring defines them.
    """
    errors.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def load_rig_or_studio(rig: Path | None) -> LoadedRig:
    """The rig ``--rig`` names, else the simulated studio, saying so: a technician who forgot ``--rig`` must
    see that the command drove the demo's rig, not theirs. Raises ConfigError as ``capturerig.load_rig``."""
    loaded = capturerig.load_rig(rig)
    if rig is None:
        console.print(f"rig: the simulated studio ({loaded.config.name}; default, --rig RIG to choose)",
                      highlight=False)
    return loaded


def require_terminal(yes: bool, needs: str) -> None:
    """End the command (exit 2) before it touches anything when it would ask the operator a question with no
    terminal to answer on (a script, a service, stdin redirected): a prompt there only meets end-of-file.

    ``needs`` says what needs the confirmation, e.g. "pose p00 needs the operator's confirmation".
    """
    if yes or (sys.stdin is not None and sys.stdin.isatty()):
        return
    raise fail(f"{needs}, but there is no terminal to ask on; --yes skips it", BAD_INPUT)
