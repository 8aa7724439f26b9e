"""The child a multihost chaos run starts per capture host: ``capturerig agent`` with a spool disk that can fill.

``$CAPTURERIG_SIM_SPOOL_DISK`` (``<folder>=<budget file>``) makes the file system of ``<folder>`` (the agent's
spool) look as if only ``<budget>`` minus what the folder holds were free, where ``<budget>`` is the whole number
in the budget file, read at every call (so the chaos runner fills and frees the disk of a running agent by
writing that file); an empty or missing file means the real disk. Without the variable this is plain
``capturerig agent``.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from capturerig_sim.chaos import host_disk_usage

__all__ = ["SPOOL_DISK_ENV", "budget_disk_usage", "read_budget"]

SPOOL_DISK_ENV = "CAPTURERIG_SIM_SPOOL_DISK"


def read_budget(budget_file: Path) -> int | None:
    """The simulated disk's size in bytes, or None (the real disk) when the file is empty, missing or torn."""
    try:
        text = budget_file.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def budget_disk_usage(folder: Path, budget_file: Path) -> Any:
    """A ``shutil.disk_usage`` whose free space under ``folder`` follows ``budget_file`` (see the module doc)."""
    real = shutil.disk_usage

    def disk_usage(path: str | os.PathLike[str]) -> Any:
        budget = read_budget(budget_file)
        if budget is None:
            return real(path)
        return host_disk_usage(folder, budget, real)(path)

    return disk_usage


def _main(argv: list[str]) -> None:
    spec = os.environ.get(SPOOL_DISK_ENV, "").strip()
    if spec:
        folder, _, budget_file = spec.rpartition("=")
        shutil.disk_usage = budget_disk_usage(Path(folder), Path(budget_file))
    from capturerig.cli import main  # the real command line, in this process with the simulated disk

    sys.argv = ["capturerig", *argv]
    main()


if __name__ == "__main__":
    _main(sys.argv[1:])
