"""YAML loading that remembers the line of every value, so errors can point at it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from capturerig.config._errors import ConfigError, ConfigProblem, FieldPath

__all__ = ["LocatedDocument", "load_located_yaml"]

_MERGE_TAG = "tag:yaml.org,2002:merge"


class LocatedDocument:
    """Plain Python data from a YAML file plus the 1-based line of each field path.

    A mapping entry's line is the line of its key (``intrinsics:``), a list item's the line of its ``-``.
    ``data`` is None for a file with nothing in it (empty, or only comments).
    """

    def __init__(self, name: str, data: Any, lines: dict[FieldPath, int], text: str = "") -> None:
        self.name = name
        self.data = data
        self.text = text
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


class _Loader(yaml.SafeLoader):
    """SafeLoader whose aliases (``*name``) carry the position where they are used, not where defined."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if not self.check_event(yaml.AliasEvent):
            return super().compose_node(parent, index)
        event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]
        mark = event.start_mark
        node = super().compose_node(parent, index)
        if node is None:
            return None
        alias = copy.copy(node)  # shallow: shares the anchored node's content
        alias.start_mark = mark
        return alias


_UNREADABLE = object()  # a scalar PyYAML could not construct (reported as a problem already)


class _Builder:
    """Turns a composed YAML node tree into Python data, recording lines and collecting problems."""

    def __init__(self, name: str, loader: yaml.SafeLoader) -> None:
        self.name = name
        self.loader = loader
        self.lines: dict[FieldPath, int] = {}
        self.problems: list[ConfigProblem] = []
        self._active: set[int] = set()  # content of the nodes being built, to catch self-containing aliases

    def _problem(self, line: int, path: FieldPath, message: str) -> None:
        self.problems.append(ConfigProblem(self.name, line, path, message))

    def _scalar(self, node: yaml.ScalarNode, path: FieldPath, line: int) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except (ValueError, OverflowError) as exc:  # e.g. 2026-13-45 reads as a date and is none
            self._problem(line, path, f"cannot read '{node.value}' as a {node.tag.rsplit(':', 1)[-1]}: {exc}")
            return _UNREADABLE

    def build(self, node: yaml.Node, path: FieldPath, line: int) -> Any:
        self.lines[path] = line
        if isinstance(node, yaml.ScalarNode):
            value = self._scalar(node, path, line)
            return None if value is _UNREADABLE else value
        # An alias shares its anchor's content list, so this also catches `&a [*a]`.
        content = id(node.value)
        if content in self._active:
            self._problem(line, path, "an alias (*name) refers to the value that contains it")
            return None
        self._active.add(content)
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, (*path, i), item.start_mark.line + 1) for i, item in enumerate(node.value)]
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path, line)
            return self.loader.construct_object(node, deep=True)
        finally:
            self._active.discard(content)

    def _mapping(self, node: yaml.MappingNode, path: FieldPath, line: int) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        # Merge keys (<<: *defaults) first: the mapping's own keys override what they bring in.
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merge_line = key_node.start_mark.line + 1
                result.update(self._merged(value_node, path, merge_line))
                # A merged value is reported at the '<<' line of this mapping, not where the anchor is.
                for located in self.lines:
                    if len(located) > len(path) and located[: len(path)] == path:
                        self.lines[located] = merge_line
        self.lines[path] = line
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                self._problem(key_line, path, "a key must be a plain name, not a list or mapping")
                continue
            key = self._scalar(key_node, path, key_line)
            if key is _UNREADABLE:
                continue
            if key in first_line:
                self._problem(key_line, (*path, str(key)),
                              f"key '{key}' appears twice (first at line {first_line[key]}); keep one of them")
                continue
            first_line[key] = key_line
            if isinstance(key, int):
                self.lines[(*path, key)] = key_line  # pydantic reports a number key as the number
            result[key] = self.build(value_node, (*path, str(key)), key_line)
        return result

    def _merged(self, value_node: yaml.Node, path: FieldPath, line: int) -> dict[Any, Any]:
        """What a ``<<`` entry brings in: one mapping, or a list of them (earlier ones win)."""
        sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        merged: dict[Any, Any] = {}
        for source in reversed(sources):
            if not isinstance(source, yaml.MappingNode):
                self._problem(line, path, "'<<' must be followed by a mapping (an alias like *defaults) "
                                          "or a list of them")
                continue
            value = self.build(source, path, line)
            if isinstance(value, dict):
                merged.update(value)
        return merged


def _syntax_problem(name: str, exc: yaml.MarkedYAMLError) -> ConfigProblem:
    """Where the parser gave up, and (when elsewhere) where the construct it was reading began."""
    mark = exc.problem_mark or exc.context_mark
    line = None if mark is None else mark.line + 1
    context = exc.context
    if context and exc.context_mark is not None and exc.context_mark.line + 1 != line:
        context += f" (from line {exc.context_mark.line + 1})"
    what = ", ".join(part for part in (context, exc.problem) if part) or "syntax error"
    if exc.problem and "'\\t'" in exc.problem:
        what += "; indent with spaces, not tabs"
    return ConfigProblem(name, line, (), f"not valid YAML: {what}")


def load_located_yaml(path: Path, text: str | None = None, name: str | None = None) -> LocatedDocument:
    """Parse ``path`` (or ``text``) and keep line numbers; YAML syntax errors become ConfigError."""
    shown = name or path.name
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError.single(shown, f"cannot read file: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            line = path.read_bytes()[: exc.start].count(b"\n") + 1
            raise ConfigError.single(shown, f"not UTF-8 text (byte {exc.start}); save the file as UTF-8",
                                     line) from exc
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:  # a control character: it has a position, not a mark
        line = text[: exc.position].count("\n") + 1
        raise ConfigError.single(shown, f"not valid YAML: character U+{exc.character:04X} is not allowed here",
                                 line) from exc
    builder = _Builder(shown, loader)
    try:
        root = loader.get_single_node()
        data = None if root is None else builder.build(root, (), root.start_mark.line + 1)
    except yaml.MarkedYAMLError as exc:
        raise ConfigError([_syntax_problem(shown, exc)]) from exc
    finally:
        loader.dispose()
    if builder.problems:
        raise ConfigError(builder.problems)
    return LocatedDocument(shown, data, builder.lines, text)
