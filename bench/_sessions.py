"""A fresh simulated session for a benchmark: a new virtual studio, a consented bench subject."""

from __future__ import annotations

from pathlib import Path

import capturerig
from capturerig.subjects import DEMO_PURPOSE, enrol_demo_subject
from capturerig_sim import reset_studios


def bench_session(rig_path: Path, plan_path: Path | None, workdir: Path, index: int) -> capturerig.Session:
    """Session ``index`` under ``workdir`` on a fresh studio (not yet run)."""
    reset_studios()
    rig = capturerig.load_rig(rig_path)
    plan = capturerig.load_plan(plan_path, rig)
    registry = enrol_demo_subject(workdir / "subjects.sqlite", "bench").registry_path
    return capturerig.Session.create(rig, plan, subject="bench", out=workdir / f"session-{index}",
                                     purpose=DEMO_PURPOSE, registry=registry)
