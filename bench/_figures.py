"""One figure of a benchmark, beside its bound or target, collected by bench/all.py into one report.

Each bench script prints its own table for a human and also calls :func:`record` for the figures the report
carries. When ``CAPTURERIG_BENCH_FIGURES`` names a file (bench/all.py sets it), every figure is appended there
as one JSON line; otherwise recording does nothing more than the script's own printing.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

__all__ = ["FIGURES_ENV", "Figure", "record"]

FIGURES_ENV = "CAPTURERIG_BENCH_FIGURES"


@dataclass(frozen=True)
class Figure:
    bench: str  # the script's name, e.g. "lights"
    name: str  # what was measured, e.g. "artnet jitter p99 rx, under session load"
    value: float
    unit: str
    target: float | None = None  # the goal for this figure
    bound: float | None = None  # the hardware's own limit (physics, wire time), when one exists
    better: Literal["lower", "higher"] = "lower"
    note: str = ""

    @property
    def meets_target(self) -> bool | None:
        if self.target is None:
            return None
        return self.value <= self.target if self.better == "lower" else self.value >= self.target


def record(bench: str, name: str, value: float, unit: str, *, target: float | None = None,
           bound: float | None = None, better: Literal["lower", "higher"] = "lower", note: str = "") -> Figure:
    """Keep one figure for the combined report (see the module docstring); returns it."""
    figure = Figure(bench, name, float(value), unit, target, bound, better, note)
    path = os.environ.get(FIGURES_ENV)
    if path:
        with Path(path).open("a", encoding="utf-8") as out:
            out.write(json.dumps(asdict(figure)) + "\n")
    return figure
