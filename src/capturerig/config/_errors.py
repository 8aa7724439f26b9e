"""Configuration errors that name the file, the line and the field."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ConfigError", "ConfigProblem", "format_field_path"]

FieldPath = tuple[str | int, ...]


def format_field_path(path: FieldPath) -> str:
    """Render ``("fixtures", 2, "address")`` as ``fixtures[2].address``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "(top level)"


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a configuration file."""

    file: str
    line: int | None
    field: FieldPath
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where} {format_field_path(self.field)}: {self.message}"


class ConfigError(ValueError):
    """A rig, plan or profile file that cannot be used as written; lists every problem found."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def single(cls, file: str | Path, message: str, line: int | None = None) -> ConfigError:
        return cls([ConfigProblem(str(file), line, (), message)])
