"""Problems the technician must act on, as the panel shows them: what went wrong, where, what to do.

Raise :class:`PanelProblem` from a route (or code it calls) for a refusal the technician can fix; the app
answers ``{"detail": "<one line>", "problem": {"what", "where", "todo"}}`` with its status, and the page shows
it as a panel that stays until dismissed (``static/panel.js:showProblem``). ``detail`` keeps API clients that
read only one line working.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PanelProblem", "problem_body"]


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
