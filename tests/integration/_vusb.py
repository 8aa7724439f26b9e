"""The examples/vusb rig copied to a test folder, its virtual cameras' image folders filled there."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from capturerig_sim.vcamera import populate_rig_vcameradirs

REPO_ROOT = Path(__file__).resolve().parents[2]
VUSB = REPO_ROOT / "examples" / "vusb"
CACHE_PREFIX = "~/.cache/capturerig/vusb/"


def vusb_copy(tmp_path: Path, formats: Mapping[str, Sequence[str]] | None = None) -> Path:
    """A copy of examples/vusb whose vcameradirs live in ``tmp_path`` (relative to the rig), filled.

    ``formats`` replaces cameras' ``formats: [jpeg]`` (``{"vc0": ["raw", "jpeg"]}``) before the folders are
    filled, so a camera recording ``raw`` gets its DNGs too.
    """
    target = tmp_path / "vusb"
    shutil.copytree(VUSB, target)
    rig = target / "rig.yaml"
    text = rig.read_text()
    assert CACHE_PREFIX in text
    text = text.replace(CACHE_PREFIX, "vcam/")
    for camera_id, camera_formats in (formats or {}).items():
        block = text.index(f"  - id: {camera_id}\n")
        old = "    formats: [jpeg]\n"
        line = text.index(old, block)
        text = text[:line] + f"    formats: [{', '.join(camera_formats)}]\n" + text[line + len(old):]
    rig.write_text(text)
    populate_rig_vcameradirs(rig, count=3)
    return target
