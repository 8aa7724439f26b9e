"""`capturerig serve DIR` opens a studio folder as it is: its sessions, packages, registry and consent purpose."""

from __future__ import annotations

from pathlib import Path

import pytest

from capturerig.cli._serve import panel_settings
from capturerig.cli._studio_folder import STUDIO_FILE, StudioFolder, write_studio_file
from capturerig.config import ConfigError


def _demo_shaped(folder: Path) -> Path:
    for sub in ("sessions", "packages", "calibration"):
        (folder / sub).mkdir(parents=True)
    registry = folder / "subjects.sqlite"
    registry.write_bytes(b"")
    return registry


def test_the_folder_the_demo_leaves_opens_with_its_registry_and_its_demo_purpose(tmp_path: Path) -> None:
    registry = _demo_shaped(tmp_path)
    write_studio_file(tmp_path, registry, "demo")
    studio = StudioFolder.open(tmp_path)
    assert (studio.sessions, studio.packages) == (tmp_path / "sessions", tmp_path / "packages")
    assert (studio.registry, studio.purpose) == (registry, "demo")


def test_a_folder_without_a_studio_file_is_read_by_its_layout(tmp_path: Path) -> None:
    registry = _demo_shaped(tmp_path)
    studio = StudioFolder.open(tmp_path)
    assert (studio.sessions, studio.packages, studio.registry, studio.purpose) == (
        tmp_path / "sessions", tmp_path / "packages", registry, "capture")


def test_a_sessions_root_given_as_the_folder_keeps_its_packages_beside_it(tmp_path: Path) -> None:
    root = tmp_path / "studio-sessions"
    root.mkdir()
    studio = StudioFolder.open(root)
    assert (studio.sessions, studio.packages, studio.registry) == (root, tmp_path / "packages", None)


def test_a_studio_file_with_a_bad_field_is_refused_at_its_line(tmp_path: Path) -> None:
    (tmp_path / STUDIO_FILE).write_text("sessions: sessions\npurpouse: demo\n")
    with pytest.raises(ConfigError) as raised:
        StudioFolder.open(tmp_path)
    assert f"{STUDIO_FILE}:2" in str(raised.value)
    assert "purpouse" in str(raised.value)


def test_a_folder_that_is_not_there_says_what_to_give(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no such studio folder \(give the folder `capturerig demo` wrote"):
        StudioFolder.open(tmp_path / "capturerig-dmeo")


def test_a_flag_given_beside_the_folder_wins(tmp_path: Path) -> None:
    registry = _demo_shaped(tmp_path)
    write_studio_file(tmp_path, registry, "demo")
    settings = panel_settings(tmp_path, (None,), purpose="capture")
    assert settings.sessions_dir == tmp_path / "sessions"
    assert (settings.registry, settings.purpose) == (registry, "capture")
