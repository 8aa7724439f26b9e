"""Shared fixtures: the simulated studio is the default setup of every test."""

from __future__ import annotations

import datetime
import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from capturerig.config import LoadedRig, default_rig_path, load_rig
from capturerig.devices import DriverContext
from capturerig.subjects import REGISTRY_ENV, SubjectRegistry
from capturerig_sim import TIME_SCALE_ENV, VirtualStudio, get_studio, reset_studios
from tests._demo_run import start_in_controller, stop_in_controller

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = REPO_ROOT / "examples" / "sim-studio"
# A session folder written, and interrupted, by the release before journals had a schema version.
UNVERSIONED_SESSION = REPO_ROOT / "tests" / "fixtures" / "session-journal-v0"


def pytest_sessionstart(session: pytest.Session) -> None:
    start_in_controller(session.config)  # the demo several integration tests read, begun as the run begins


def pytest_sessionfinish(session: pytest.Session) -> None:
    stop_in_controller()


def copy_unversioned_session(target: Path) -> Path:
    """A writable copy of :data:`UNVERSIONED_SESSION` at ``target`` (a checkout may hold it read-only)."""
    shutil.copytree(UNVERSIONED_SESSION, target)
    for path in target.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target


def with_test_card_images(rig_path: Path) -> Path:
    """Make the rig's sim cameras deliver a fixed test card instead of ray-casting every image: for tests of
    the engine's behaviour, where the pixels do not matter (rendering is most of a session's time here)."""
    text = rig_path.read_text(encoding="utf-8")
    assert "\nsimulation:\n" in text, f"{rig_path} has no simulation block to extend"
    rig_path.write_text(text.replace("\nsimulation:\n", "\nsimulation:\n  images: repeat\n", 1), encoding="utf-8")
    return rig_path


@pytest.fixture
def studio_files(tmp_path: Path) -> Path:
    """A copy of the example studio (rig.yaml, plan.yaml) a test may edit."""
    target = tmp_path / "studio"
    shutil.copytree(EXAMPLES, target)
    return target


# The subject ids tests capture: each is an adult with a consent for the purpose "capture", valid a year.
TEST_SUBJECTS = ("S", "S1", "S-test", "S-serial", "S-sync", "S-grbl", "S-safe", "S-term", "S-wire", "S-vusb",
                 "S-trigger", "S-soft", "S-kill", "S-web", "S-package", "S-calib", "bench", "mannequin")


@pytest.fixture(scope="session", autouse=True)
def consent_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The test run's subject registry, where every TEST_SUBJECTS id has consent; sessions use it by default.

    Set for the whole run (module fixtures and child processes too) through $CAPTURERIG_REGISTRY; a test that
    revokes or edits consent makes its own registry.
    """
    path = tmp_path_factory.mktemp("registry") / "subjects.sqlite"
    today = datetime.date.today()
    with SubjectRegistry.open(path, create=True, actor="tests") as registry:
        for subject in TEST_SUBJECTS:
            registry.add_subject(subject, "25-34")
            registry.add_consent(subject, hashlib.sha256(f"signed consent of {subject}".encode()).hexdigest(),
                                 ["capture"], today - datetime.timedelta(days=1), today + datetime.timedelta(days=365))
        # Backs the photosensitivity_override the safe-state tests put in their plans.
        registry.add_screening("S-safe", "cleared", 6, "tests' neurology clinic", datetime.date(2026, 11, 1))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(REGISTRY_ENV, str(path))
        yield path


@pytest.fixture
def fast_sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Simulated devices without modelled latencies, and a fresh virtual studio."""
    monkeypatch.setenv(TIME_SCALE_ENV, "0")
    reset_studios()
    yield
    reset_studios()


def child_env(time_scale: float) -> dict[str, str]:
    env = dict(os.environ)
    env[TIME_SCALE_ENV] = str(time_scale)
    return env


@pytest.fixture(scope="module")
def loaded() -> LoadedRig:
    """The embedded simulated studio rig."""
    return load_rig(default_rig_path())


@pytest.fixture
def context(loaded: LoadedRig) -> DriverContext:
    return DriverContext(loaded.config, loaded.path.parent)


@pytest.fixture
def studio(loaded: LoadedRig, fast_sim: None) -> VirtualStudio:
    """The virtual studio the sim drivers of this test share (fresh, no modelled latencies)."""
    return get_studio("default", loaded.config, loaded.path.parent)
