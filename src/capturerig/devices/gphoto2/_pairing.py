"""Match the files a camera announces to one exposure: one file per configured format, any arrival order.

A RAW+JPEG body announces ``DSC_0001.NEF`` and ``DSC_0001.JPG`` as two events, in either order, sometimes
after files of an earlier shot that was never downloaded. Files are grouped by folder and stem; the first
stem that has every configured format is the exposure. (stdlib only: the worker imports this.)
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["ExposureFiles", "format_of"]

_ALIASES = {"jpg": ("jpg", "jpeg"), "jpeg": ("jpg", "jpeg"), "tif": ("tif", "tiff"), "tiff": ("tif", "tiff")}


def format_of(path: str, extensions: Mapping[str, str]) -> str | None:
    """Our format name for a card path by its extension (``{"jpeg": "jpg", "raw": "nef"}``), or None."""
    ext = posixpath.splitext(path)[1].lstrip(".").lower()
    for fmt, wanted in extensions.items():
        if ext in _ALIASES.get(wanted.lower(), (wanted.lower(),)):
            return fmt
    return None


@dataclass
class ExposureFiles:
    """Collects announced card paths until one stem has a file of every format in ``extensions``."""

    extensions: Mapping[str, str]
    by_stem: dict[str, dict[str, str]] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)

    def add(self, path: str) -> dict[str, str] | None:
        """Record ``path``; returns ``{format: path}`` once its stem is complete, else None."""
        fmt = format_of(path, self.extensions)
        if fmt is None:
            self.ignored.append(path)
            return None
        stem = posixpath.splitext(path)[0]
        files = self.by_stem.setdefault(stem, {})
        files[fmt] = path
        if set(files) >= set(self.extensions):
            return dict(files)
        return None

    def incomplete(self) -> dict[str, list[str]]:
        """Stems still missing a format: ``{stem: [missing formats]}`` (for the timeout message)."""
        return {stem: sorted(set(self.extensions) - set(files)) for stem, files in self.by_stem.items()
                if not set(files) >= set(self.extensions)}
