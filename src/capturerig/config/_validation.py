"""Turning pydantic's validation errors into located ConfigProblems."""

from __future__ import annotations

from pydantic import ValidationError

from capturerig.config._errors import ConfigProblem
from capturerig.config._yaml import LocatedDocument

__all__ = ["problems_from_validation_error"]


def _message(error: dict[str, object]) -> str:
    kind = error.get("type")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field (check the spelling)"
    text = str(error.get("msg", "invalid value"))
    # pydantic prefixes custom messages with "Value error, "; the field is already named.
    return text.removeprefix("Value error, ")


def problems_from_validation_error(exc: ValidationError, doc: LocatedDocument) -> list[ConfigProblem]:
    problems = []
    for error in exc.errors():
        # Tagged unions add the tag as a path step; it is not a field in the file.
        path = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        problems.append(doc.problem(path, _message(dict(error))))
    return problems
