"""The vusb example as a new user runs it: no step before ``capturerig run``, the virtual cameras filled by it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import child_env

pytestmark = pytest.mark.slow

VUSB = Path(__file__).resolve().parents[2] / "examples" / "vusb"


def test_the_session_fills_empty_virtual_camera_folders_when_it_starts(tmp_path: Path) -> None:
    home = tmp_path / "home"  # the rig's vcameradirs are ~/.cache/capturerig/vusb/vcamN: a fresh user's home
    home.mkdir()
    folders = [home / ".cache" / "capturerig" / "vusb" / f"vcam{index}" for index in range(4)]
    assert not any(folder.exists() for folder in folders)
    plan = tmp_path / "plan.yaml"  # the example's plan cut to 2 stations x 2 lighting states
    lines = (VUSB / "plan.yaml").read_text().splitlines()
    keep = [line for line in lines if not any(f"id: s0{i}," in line for i in range(2, 8))]
    cut = keep.index("  - id: l02")
    keep = keep[:cut] + keep[keep.index("brackets:"):]
    plan.write_text("\n".join(keep) + "\n")
    out = tmp_path / "session"
    command = [sys.executable, "-m", "capturerig", "run", "--rig", str(VUSB / "rig.yaml"), "--plan", str(plan),
               "--subject", "S-vusb", "--out", str(out), "--yes"]
    done = subprocess.run(command, env={**child_env(0), "HOME": str(home)}, capture_output=True, text=True,
                          timeout=180, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "has no JPEG images" not in done.stdout + done.stderr
    assert "4/4 takes verified" in done.stdout
    for folder in folders:
        assert sorted(path.name for path in folder.glob("*.jpg")) == [f"card{i:02d}.jpg" for i in range(4)]
