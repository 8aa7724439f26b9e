"""Problems the technician must act on, as the panel shows them: what went wrong, where, what to do.

Raise :class:`PanelProblem` from a route (or code it calls) for a refusal the technician can fix; the app
answers ``{"detail": "<one line>", "problem": {"what", "where", "todo"}}`` with its status, and the page shows
it as a panel that stays until dismissed (``static/panel.js:showProblem``). ``detail`` keeps API clients that
read only one line working.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from capturerig.config import ConfigError, format_field_path

__all__ = ["PanelProblem", "config_problem", "problem_body"]


class PanelProblem(Exception):
    """A refusal with what / where (file:line, field, device or camera) / what to do, and its HTTP status."""

    def __init__(self, what: str, where: str = "", todo: str = "", status: int = 422) -> None:
        super().__init__(what)
        self.what = what
        self.where = where
        self.todo = todo
        self.status = status

    def as_dict(self) -> dict[str, str]:
        return {"what": self.what, "where": self.where, "todo": self.todo}

    def one_line(self) -> str:
        return " ".join(part for part in (self.what, f"({self.where})" if self.where else "",
                                          self.todo) if part)


def problem_body(problem: PanelProblem) -> dict[str, Any]:
    """The JSON an error response carries for ``problem``."""
    return {"detail": problem.one_line(), "problem": problem.as_dict()}


def config_problem(exc: ConfigError, what: str, path: Path | None = None, todo: str = "") -> PanelProblem:
    """A rig or plan file's :class:`ConfigError` as a problem: ``what`` and its first problem, where (file:line and
    field; ``path`` in full when the problem is in that file), and what to do (``todo``, else: fix that line)."""
    if not exc.problems:
        return PanelProblem(what, str(path or ""), todo or "fix the file")
    first = exc.problems[0]
    file = str(path) if path is not None and Path(first.file).name == path.name else first.file
    where = f"{file}:{first.line}" if first.line is not None else file
    if first.field:
        where += f", field {format_field_path(first.field)}"
    more = len(exc.problems) - 1
    field = f"{format_field_path(first.field)}: " if first.field else ""
    text = f"{what}: {field}{first.message}" + (f" (and {more} more problem{'s' if more > 1 else ''} in the file)"
                                                if more else "")
    return PanelProblem(text, where, todo or "fix that line of the file (the others it lists too) and try again")
