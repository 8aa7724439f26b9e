"""Turning pydantic's validation errors into located ConfigProblems with plain-language messages."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from capturerig.config._errors import ConfigError, ConfigProblem, FieldPath
from capturerig.config._yaml import LocatedDocument

__all__ = [
    "PLAN_ID_PATTERN",
    "RIG_ID_PATTERN",
    "describe_value",
    "problems_from_validation_error",
    "validate_document",
    "validation_messages",
]

Model = TypeVar("Model", bound=BaseModel)

RIG_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$"
# Plan ids are joined into file names and take ids, so no '_' (the separator) and no '/'.
PLAN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{0,23}$"

_PATTERN_RULES = {
    RIG_ID_PATTERN: "an id is 1 to 40 letters, digits, '_' or '-', starting with a letter or digit",
    PLAN_ID_PATTERN: "a plan id is 1 to 24 letters, digits or '-', starting with a letter or digit "
                     "(no '_': ids are joined with '_' into take names)",
}

_TYPE_NAMES = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "tuple_type": "a list",
    "list_type": "a list",
    "dict_type": "a mapping (key: value lines)",
    "model_type": "a mapping of fields (key: value lines)",
    "model_attributes_type": "a mapping of fields (key: value lines)",
}


def describe_value(value: Any) -> str:
    """How a value from the file reads in a message: ``'abc'``, ``12``, ``a list``, ``an empty value``."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _descend(annotation: Any, step: str | int) -> Any:
    """The type found one step (field name, list index or mapping key) below ``annotation``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _descend(args[0], step)
    if origin is typing.Union or origin is types.UnionType:
        for arg in args:
            found = _descend(arg, step)
            if found is not None:
                return found
        return None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(step) if isinstance(step, str) else None
        return None if field is None else field.annotation
    if origin is tuple and isinstance(step, int) and args:
        if len(args) == 2 and args[1] is Ellipsis:
            return args[0]
        return args[step] if step < len(args) else None
    if origin is list and isinstance(step, int) and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return None


def _type_at(model: type[BaseModel] | None, path: FieldPath) -> Any:
    current: Any = model
    for step in path:
        if current is None:
            return None
        current = _descend(current, step)
    return current


def _model_fields(annotation: Any) -> list[str]:
    """Field names of the model at ``annotation`` (through Optional/unions), or [] if it is not a model."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return [name for arg in typing.get_args(annotation) for name in _model_fields(arg)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _description(model: type[BaseModel] | None, path: FieldPath) -> str | None:
    """The ``Field(description=...)`` of the field at ``path``, if it is a model's field and has one."""
    if not path or not isinstance(path[-1], str):
        return None
    parents = _type_at(model, path[:-1])
    for parent in typing.get_args(parents) or (parents,):
        if isinstance(parent, type) and issubclass(parent, BaseModel):
            field = parent.model_fields.get(path[-1])
            if field is not None and field.description:
                return field.description
    return None


def _fixed_length(annotation: Any) -> int | None:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _fixed_length(args[0])
    if origin is typing.Union or origin is types.UnionType:
        lengths = {_fixed_length(arg) for arg in args} - {None}
        return lengths.pop() if len(lengths) == 1 else None
    if origin is tuple and args and Ellipsis not in args:
        return len(args)
    return None


def _problem(error: Mapping[str, Any], path: FieldPath,
             model: type[BaseModel] | None) -> tuple[FieldPath, str]:
    """Where an error belongs and what to say about it."""
    kind = error.get("type")
    value = error.get("input")
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    text = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    if kind == "missing" and path and isinstance(path[-1], int) and isinstance(value, list):
        parent = path[:-1]
        expected = _fixed_length(_type_at(model, parent))
        count = f"{expected} values" if expected is not None else "more values"
        return parent, f"needs {count}, got {len(value)}"
    if kind == "missing":
        meaning = _description(model, path)
        return path, "is required but missing" + (f" ({meaning})" if meaning else "")
    if kind == "extra_forbidden":
        allowed = _model_fields(_type_at(model, path[:-1]))
        message = "is not a known field"
        close = difflib.get_close_matches(str(path[-1]), allowed, n=1) if path else []
        if close:
            message += f" (did you mean '{close[0]}'?)"
        if allowed:
            message += f"; allowed here: {', '.join(allowed)}"
        return path, message
    if kind in ("literal_error", "enum"):
        return path, f"{describe_value(value)} is not allowed; use {ctx.get('expected', 'another value')}"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        rule = _PATTERN_RULES.get(pattern, f"it must match {pattern}")
        return path, f"{describe_value(value)} is not valid: {rule}"
    if kind == "too_short":
        return path, f"needs at least {ctx.get('min_length')} item(s), got {ctx.get('actual_length')}"
    if kind == "too_long":
        return path, f"takes at most {ctx.get('max_length')} item(s), got {ctx.get('actual_length')}"
    if kind == "string_type" and isinstance(value, bool):
        return path, (f"should be text, got {str(value).lower()} (YAML reads yes/no/on/off/true/false as "
                      "true or false): write it in quotes")
    if kind == "string_type" and isinstance(value, int | float):
        return path, f"should be text, got the number {value}: write it in quotes ('{value}')"
    if kind in _TYPE_NAMES:
        return path, f"should be {_TYPE_NAMES[kind]}, got {describe_value(value)}"
    if kind == "value_error":
        return path, text
    return path, f"{text[:1].lower()}{text[1:]} (got {describe_value(value)})"


def validation_messages(exc: ValidationError,
                        model: type[BaseModel] | None = None) -> list[tuple[FieldPath, str]]:
    """Each pydantic error as (field path, plain-language message), in pydantic's order, without noise.

    The messages are those of the rig and plan files; ``model``, when given, lets them list allowed fields.
    Paths are relative to the validated data (prefix them to place them in a larger document).
    """
    located = []
    for error in exc.errors():
        # Drop steps that are not fields in the file: union/function tags, and '[key]' after a bad mapping key.
        path = tuple(p for p in error["loc"]
                     if not (isinstance(p, str) and (p.startswith("function-") or p == "[key]")))
        located.append((error, path))
    messages: list[tuple[FieldPath, str]] = []
    for error, path in located:
        # pydantic also reports a list as too short when its only items were invalid; that is noise.
        if error["type"] == "too_short" and any(len(other) > len(path) and other[:len(path)] == path
                                                for _, other in located):
            continue
        message = _problem(dict(error), path, model)
        if message not in messages:
            messages.append(message)
    return messages


def problems_from_validation_error(exc: ValidationError, doc: LocatedDocument,
                                   model: type[BaseModel] | None = None,
                                   prefix: FieldPath = ()) -> list[ConfigProblem]:
    """One located problem per pydantic error (``model``, when given, lets messages list allowed fields).

    ``prefix`` places data validated on its own inside ``doc``: a device's ``params`` are validated against
    its driver's model and reported at ``("light_outputs", 0, "params", ...)``.
    """
    problems: list[ConfigProblem] = []
    for path, message in validation_messages(exc, model):
        problem = doc.problem((*prefix, *path), message)
        if problem not in problems:
            problems.append(problem)
    return problems


def validate_document(model: type[Model], doc: LocatedDocument, what: str) -> Model:
    """Validate a whole file as ``model``; ``what`` names the kind of file in messages ("a rig")."""
    required = ", ".join(name for name, field in model.model_fields.items() if field.is_required())
    if doc.data is None:
        raise ConfigError([ConfigProblem(doc.name, 1, (), f"the file is empty; {what} needs at least: {required}")])
    if not isinstance(doc.data, dict):
        raise ConfigError([doc.problem((), f"the top level should be a mapping of fields ({what} needs at least: "
                                            f"{required}), got {describe_value(doc.data)}")])
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(problems_from_validation_error(exc, doc, model)) from exc
