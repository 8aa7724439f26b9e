"""A finished session of the simulated studio whose first cameras shoot RAW (test cards: the files matter, not
the pixels)."""

from __future__ import annotations

import shutil
from pathlib import Path

import capturerig
from capturerig.engine import RunState, Session
from tests.conftest import EXAMPLES, with_test_card_images


def shoot_raw_session(studio: Path, out: Path, formats: str = "[raw, jpeg]", cameras: int = 16) -> Path:
    """Shoot the demo plan of ``studio`` (a copy of examples/sim-studio) to ``out`` with the first ``cameras``
    cameras recording ``formats`` instead of JPEG; the session folder."""
    rig_path = with_test_card_images(studio / "rig.yaml")
    text = rig_path.read_text(encoding="utf-8")
    assert text.count("formats: [jpeg]") == 16
    rig_path.write_text(text.replace("formats: [jpeg]", f"formats: {formats}", cameras), encoding="utf-8")
    rig = capturerig.load_rig(rig_path)
    session = Session.create(rig, capturerig.load_plan(studio / "plan.yaml", rig), subject="S-test", out=out)
    try:
        assert session.run().state == RunState.DONE
    finally:
        session.close()
    return out


def shoot_small_raw_session(root: Path, cameras: int) -> Path:
    """A finished RAW session below ``root``: a copy of examples/sim-studio, its plan cut to two lighting states
    (small and quick), the first ``cameras`` cameras recording RAW+JPEG."""
    shutil.copytree(EXAMPLES, root / "studio")
    plan = root / "studio" / "plan.yaml"
    text = plan.read_text(encoding="utf-8")
    cut = text[text.index("  - id: l02"):text.index("brackets:")]
    plan.write_text(text.replace(cut, ""), encoding="utf-8")
    return shoot_raw_session(root / "studio", root / "session", "[raw, jpeg]", cameras=cameras)
