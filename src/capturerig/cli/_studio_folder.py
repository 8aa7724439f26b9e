"""A studio folder: sessions, packages, calibration and the subject registry in one place, and the use its
subjects consented to, so ``capturerig serve DIR`` opens it with no other flag.

``capturerig demo`` writes ``studio.yaml`` at its folder's top; a folder without one is read by its layout
(``sessions/``, ``packages/``, ``subjects.sqlite``), or as a sessions root itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from capturerig.config import FrozenModel, load_located_yaml, validate_document
from capturerig.subjects import CAPTURE_PURPOSE, REGISTRY_FILE

__all__ = ["STUDIO_FILE", "StudioFolder", "write_studio_file"]

STUDIO_FILE = "studio.yaml"


class _StudioFile(FrozenModel):
    sessions: str = Field("sessions", description="the sessions root, relative to the folder")
    packages: str = Field("packages", description="the packages root, relative to the folder")
    registry: str | None = Field(None, description="the subject registry, relative to the folder")
    purpose: str = Field(CAPTURE_PURPOSE, min_length=1, description="the use subjects' consent must cover")


@dataclass(frozen=True)
class StudioFolder:
    """Where a studio folder keeps each thing (absolute paths) and the use its subjects' consent covers."""

    path: Path
    sessions: Path
    packages: Path
    registry: Path | None
    purpose: str

    @classmethod
    def open(cls, folder: Path) -> StudioFolder:
        """Read ``folder`` (its ``studio.yaml`` when it has one). Raises FileNotFoundError (no such folder) and
        ConfigError (a studio file with a bad field, naming its line)."""
        folder = folder.absolute()
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such studio folder (give the folder `capturerig demo` wrote, "
                                    "or a sessions root)")
        studio_file = folder / STUDIO_FILE
        if studio_file.is_file():
            settings = validate_document(_StudioFile, load_located_yaml(studio_file), "a studio file")
            return cls(folder, folder / settings.sessions, folder / settings.packages,
                       None if settings.registry is None else folder / settings.registry, settings.purpose)
        sessions = folder / "sessions" if (folder / "sessions").is_dir() else folder
        registry = folder / REGISTRY_FILE
        return cls(folder, sessions, sessions.parent / "packages", registry if registry.is_file() else None,
                   CAPTURE_PURPOSE)


def write_studio_file(folder: Path, registry: Path, purpose: str) -> Path:
    """Record ``folder``'s layout (the demo's: sessions/, packages/, its registry) and its subjects' purpose."""
    path = folder / STUDIO_FILE
    path.write_text("# A capturerig studio folder: `capturerig serve " + str(folder) + "` opens it as it is.\n"
                    "sessions: sessions\npackages: packages\n"
                    f"registry: {registry.relative_to(folder) if registry.is_relative_to(folder) else registry}\n"
                    f"purpose: {purpose}\n", encoding="utf-8")
    return path
