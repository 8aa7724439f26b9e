"""Entry point of the checks' child process: ``python _serve_main.py`` (see :mod:`capturerig.qc._serve`).

Runs :func:`capturerig.qc._serve.main` without importing the ``capturerig`` package's ``__init__`` (it pulls in
the engine, calibration and matplotlib: a second of imports for every session): ``capturerig`` is registered as
an empty namespace over its folder, so only the checks and what they import (config, develop) are loaded.
"""

from __future__ import annotations

import os
import sys
import types

__all__: list[str] = []


def _light_package() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    if here in sys.path:  # the script's folder (sys.path[0]) is no place to import from
        sys.path.remove(here)
    module = types.ModuleType("capturerig")
    module.__path__ = [os.path.dirname(here)]
    sys.modules["capturerig"] = module


if __name__ == "__main__":
    _light_package()
    from capturerig.qc._serve import main

    main()
