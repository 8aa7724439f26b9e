"""The ``capturerig`` command line."""

from capturerig.cli._app import app, main

__all__ = ["app", "main"]
