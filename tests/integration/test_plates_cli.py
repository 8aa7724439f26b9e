"""`capturerig run` with clean plates, as a technician at a terminal meets it: asked to clear the rig (Enter
shoots the empty rig) and then for the subject back; with --yes a line of its own says the plates are shot."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from capturerig.cli import app
from tests.conftest import child_env

pytestmark = pytest.mark.usefixtures("fast_sim")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
WAIT_S = 90.0  # a loaded 2-core machine; the 4-camera session itself takes a few seconds
PLAN = """\
name: plates-cli
consistency: take
retries: 1
plates: {plates}
poses:
  - {{id: p00, description: A-pose, operator_confirmed: true}}
stations:
  - {{id: s00, angle_deg: 0}}
lighting:
  - {{id: l00, levels: {{"*": {{intensity: 1.0, red: 1.0, green: 1.0, blue: 1.0, white: 1.0}}}}}}
  - {{id: l01, levels: {{"*": {{intensity: 0.5, red: 1.0, green: 1.0, blue: 1.0, white: 1.0}}}}}}
camera_groups: [ring-low]
settle: {{lights_s: 0.0, turntable_s: 0.0}}
coverage: {{min_cameras: 4}}
"""


def _studio(studio_files: Path, plates: str) -> tuple[Path, Path]:
    rig = studio_files / "rig.yaml"
    document = yaml.safe_load(rig.read_text(encoding="utf-8"))
    document["cameras"] = document["cameras"][:4]
    rig.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    plan = studio_files / "plates-cli.yaml"
    plan.write_text(PLAN.format(plates=plates), encoding="utf-8")
    return rig, plan


def test_with_yes_the_plates_have_a_line_of_their_own(studio_files: Path, tmp_path: Path) -> None:
    rig, plan = _studio(studio_files, "after")
    result = CliRunner().invoke(app, ["run", "--rig", str(rig), "--plan", str(plan), "--subject", "S1", "--out",
                                      str(tmp_path / "s"), "--yes"], terminal_width=200)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    plates = [i for i, line in enumerate(lines) if line.startswith("clean plates: shooting the empty rig")]
    subject = [i for i, line in enumerate(lines) if line.startswith("pose p00: A-pose")]
    assert len(plates) == 1, result.output
    assert len(subject) == 1, result.output
    assert subject[0] < plates[0]  # plates: after
    assert "4/4 takes verified" in result.output
    assert len(list((tmp_path / "s").rglob("cam0[0-3]_plate_s00_l0[01].jpg"))) == 8


def _read_until(fd: int, wanted: str, seen: list[str], child: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + WAIT_S
    while wanted not in "".join(seen):
        assert time.monotonic() < deadline, f"no {wanted!r} in time:\n{''.join(seen)}"
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                seen.append(os.read(fd, 4096).decode(errors="replace"))
            except OSError:  # the child closed the terminal
                assert wanted in "".join(seen), f"the run ended without {wanted!r}:\n{''.join(seen)}"
        elif child.poll() is not None and not select.select([fd], [], [], 0)[0]:
            raise AssertionError(f"the run ended (exit {child.returncode}) without {wanted!r}:\n{''.join(seen)}")


def test_at_a_terminal_it_asks_to_clear_the_rig_then_for_the_subject_back(studio_files: Path,
                                                                           tmp_path: Path) -> None:
    rig, plan = _studio(studio_files, "before")
    master, slave = os.openpty()
    child = subprocess.Popen([sys.executable, "-m", "capturerig", "run", "--rig", str(rig), "--plan", str(plan),
                              "--subject", "S-term", "--out", str(tmp_path / "s")],
                             stdin=slave, stdout=slave, stderr=slave, env=child_env(0.0), close_fds=True)
    os.close(slave)
    seen: list[str] = []
    try:
        _read_until(master, "then press Enter to shoot the empty rig [Y/n]", seen, child)
        assert "Clear the rig for the clean plates: nobody and nothing in it" in "".join(seen)
        assert "holding pose p00" not in "".join(seen)  # the plates come first
        os.write(master, b"\n")
        _read_until(master, "bring the subject back into the rig. Is the subject holding pose p00 (A-pose)? [Y/n]",
                    seen, child)
        os.write(master, b"\n")
        _read_until(master, "takes verified", seen, child)
        assert child.wait(timeout=WAIT_S) == 0, "".join(seen)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        os.close(master)
    output = ANSI.sub("", "".join(seen))  # rich colours the terminal's lines
    assert "4/4 takes verified" in output
    assert output.index("clean plates") < output.index("pose p00: A-pose")


def test_the_estimate_names_the_plates_time(studio_files: Path) -> None:
    rig, plan = _studio(studio_files, "after")
    result = CliRunner().invoke(app, ["plan", "estimate", str(rig), str(plan)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "hold time, pose p00" in result.output
    assert "clean plates (the empty rig)" in result.output
    assert "4 │" in next(line for line in result.output.splitlines() if "takes" in line)
