"""YAML loading that remembers the line of every value, so errors can point at it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from capturerig.config._errors import ConfigError, ConfigProblem, FieldPath

__all__ = ["LocatedDocument", "load_located_yaml"]


class LocatedDocument:
    """Plain Python data from a YAML file plus the 1-based line of each field path."""

    def __init__(self, name: str, data: Any, lines: dict[FieldPath, int]) -> None:
        self.name = name
        self.data = data
        self._lines = lines

    def line_of(self, path: FieldPath) -> int | None:
        """Line of ``path``, or of its nearest ancestor that exists in the file."""
        for cut in range(len(path), -1, -1):
            line = self._lines.get(tuple(path[:cut]))
            if line is not None:
                return line
        return None

    def problem(self, path: FieldPath, message: str) -> ConfigProblem:
        return ConfigProblem(self.name, self.line_of(path), path, message)


def _to_python(node: yaml.Node, path: FieldPath, lines: dict[FieldPath, int], loader: yaml.SafeLoader) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in result:
                raise ConfigError(
                    [ConfigProblem(str(lines.get(()) and ""), key_node.start_mark.line + 1, (*path, key),
                                   "key appears twice")]
                )
            result[key] = _to_python(value_node, (*path, str(key)), lines, loader)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, (*path, i), lines, loader) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def load_located_yaml(path: Path, text: str | None = None, name: str | None = None) -> LocatedDocument:
    """Parse ``path`` (or ``text``) and keep line numbers; YAML syntax errors become ConfigError."""
    shown = name or path.name
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError.single(shown, f"cannot read file: {exc.strerror or exc}") from exc
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        lines: dict[FieldPath, int] = {}
        data = {} if root is None else _to_python(root, (), lines, loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError.single(shown, f"not valid YAML: {exc.problem}", line) from exc
    except ConfigError as exc:
        raise ConfigError([ConfigProblem(shown, p.line, p.field, p.message) for p in exc.problems]) from exc
    finally:
        loader.dispose()
    return LocatedDocument(shown, data, lines)
