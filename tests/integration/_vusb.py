"""The examples/vusb rig copied to a test folder, its virtual cameras' image folders filled there."""

from __future__ import annotations

import shutil
from pathlib import Path

from capturerig_sim.vcamera import populate_rig_vcameradirs

REPO_ROOT = Path(__file__).resolve().parents[2]
VUSB = REPO_ROOT / "examples" / "vusb"
CACHE_PREFIX = "~/.cache/capturerig/vusb/"


def vusb_copy(tmp_path: Path) -> Path:
    """A copy of examples/vusb whose vcameradirs live in ``tmp_path`` (relative to the rig), filled."""
    target = tmp_path / "vusb"
    shutil.copytree(VUSB, target)
    rig = target / "rig.yaml"
    text = rig.read_text()
    assert CACHE_PREFIX in text
    rig.write_text(text.replace(CACHE_PREFIX, "vcam/"))
    populate_rig_vcameradirs(rig, count=3)
    return target
