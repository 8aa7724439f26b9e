"""The README's scripting example runs as written, and its quick start names exactly two commands."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLES, REPO_ROOT, child_env

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
    assert (tmp_path / "packages" / "S-0042" / "transforms.json").is_file()
    assert (tmp_path / "packages" / "S-0042" / "sparse" / "0" / "cameras.bin").is_file()


def test_quick_start_has_exactly_two_commands_and_ci_runs_the_test_one() -> None:
    quick_start = README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```sh\n(.*?)```", quick_start, flags=re.S)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]
    assert commands == ["make demo", "make test"]
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()
