"""JSON loading that remembers the line of every value, so profile errors can point at it.

The standard library parses (strict JSON, with its own line:column on syntax errors); a small second pass
over the now known-good text finds the line of each object key and array item.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from capturerig.config._errors import ConfigError, FieldPath
from capturerig.config._yaml import LocatedDocument

__all__ = ["load_located_json"]

_WHITESPACE = " \t\n\r"


class _Locator:
    """Walks valid JSON text and records the 1-based line where each field path starts."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.lines: dict[FieldPath, int] = {}

    def _skip(self) -> None:
        text = self.text
        while self.pos < len(text) and text[self.pos] in _WHITESPACE:
            if text[self.pos] == "\n":
                self.line += 1
            self.pos += 1

    def _string(self) -> str:
        # The text already parsed as JSON, so a raw_decode from the opening quote is exact.
        value, end = json.JSONDecoder().raw_decode(self.text, self.pos)
        self.line += self.text.count("\n", self.pos, end)
        self.pos = end
        return str(value)

    def value(self, path: FieldPath) -> None:
        self._skip()
        self.lines[path] = self.line
        char = self.text[self.pos]
        if char == "{":
            self.pos += 1
            self._skip()
            if self.text[self.pos] == "}":
                self.pos += 1
                return
            while True:
                self._skip()
                key_line = self.line
                key = self._string()
                self._skip()
                self.pos += 1  # ':'
                self.value((*path, key))
                self.lines[(*path, key)] = key_line
                self._skip()
                char = self.text[self.pos]
                self.pos += 1
                if char == "}":
                    return
        elif char == "[":
            self.pos += 1
            self._skip()
            if self.text[self.pos] == "]":
                self.pos += 1
                return
            index = 0
            while True:
                self.value((*path, index))
                index += 1
                self._skip()
                char = self.text[self.pos]
                self.pos += 1
                if char == "]":
                    return
        elif char == '"':
            self._string()
        else:
            _, end = json.JSONDecoder().raw_decode(self.text, self.pos)
            self.pos = end


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"key '{key}' appears twice in one object; keep one of them")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value (write a number)")


def load_located_json(path: Path, name: str | None = None) -> LocatedDocument:
    """Parse ``path`` as strict JSON and keep line numbers; syntax errors become a ConfigError.

    The error names the file, the line and the column where the parser gave up.
    """
    shown = name or path.name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError.single(shown, f"cannot read file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError.single(shown, f"not UTF-8 text (byte {exc.start}); save the file as UTF-8", line) from exc
    if not text.strip():
        raise ConfigError.single(shown, "the file is empty; a fixture profile is one JSON object", 1)
    try:
        data = json.loads(text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ConfigError.single(shown, f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
                                 exc.lineno) from exc
    except ValueError as exc:  # a duplicate key or NaN/Infinity
        raise ConfigError.single(shown, f"not valid JSON: {exc}") from exc
    locator = _Locator(text)
    locator.value(())
    return LocatedDocument(shown, data, locator.lines, text)
