"""This release's version, as every host reports it (agents refuse to pair with another release)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["capturerig_version"]


def capturerig_version() -> str:
    try:
        return version("capturerig")
    except PackageNotFoundError:
        return "unknown"
