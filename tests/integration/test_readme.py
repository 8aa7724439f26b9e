"""The README's scripting example runs as written, and its quick start names exactly two commands."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLES, REPO_ROOT, child_env
from tests.integration.conftest import Demo, demo_until

README = REPO_ROOT / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_scripting_example_runs_as_written(tmp_path: Path) -> None:
    (blocks,) = _python_blocks()
    shutil.copytree(EXAMPLES, tmp_path / "examples" / "sim-studio")
    script = tmp_path / "example.py"
    script.write_text(blocks)
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=child_env(0.0),
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "done 8 takes verified" in result.stdout
    snapshot = tmp_path / "packages" / "S-0042" / "data" / "snapshots" / "p00_l00"
    assert (snapshot / "transforms.json").is_file()
    assert (snapshot / "colmap" / "sparse" / "0" / "cameras.bin").is_file()
    assert (tmp_path / "packages" / "S-0042" / "bagit.txt").is_file()


def test_quick_start_has_exactly_two_commands_and_ci_runs_the_test_one() -> None:
    quick_start = README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```sh\n(.*?)```", quick_start, flags=re.S)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]
    assert commands == ["make demo", "make test"]
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()


def test_make_demo_ends_by_serving_the_panel_and_printing_its_address(tmp_path: Path, demo: Demo) -> None:
    """`capturerig demo` (what `make demo` runs) serves the web panel on its own folder until stopped."""
    import json
    import urllib.request

    # Today's studio calibration, from the demo run before: this run reuses it (the rig is the same).
    shutil.copytree(demo.out / "calibration", tmp_path / "demo" / "calibration")
    with demo_until(["--out", str(tmp_path / "demo")], "panel: http://127.0.0.1:") as (process, lines):
        address = next((line.split()[1] for line in lines if line.startswith("panel: ")), None)
        assert address is not None, "".join(lines)
        page = urllib.request.urlopen(address, timeout=30).read().decode()
        assert "/static/panel.js" in page
        sessions = json.loads(urllib.request.urlopen(address + "api/sessions", timeout=30).read())
        assert [s["takes_verified"] for s in sessions] == [8], sessions  # calibration sessions are not listed
        assert any(line.startswith("calibration: reusing ") for line in lines), "".join(lines)
    assert process.returncode == 0, "".join(lines)
