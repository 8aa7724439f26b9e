"""Entry point of the DMX sender process: ``python -I -S _sender_main.py SPEC_JSON SHM_FD``.

Runs :func:`capturerig.devices._sender_child.main` without importing the ``capturerig`` package (its
``__init__`` pulls in numpy, pydantic and the engine): the two package names are registered as empty
namespaces over their folders, so only the sender and the packet builders are loaded.
"""

from __future__ import annotations

import os
import sys
import types

__all__: list[str] = []


def _light_packages() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    for name, path in (("capturerig", os.path.dirname(here)), ("capturerig.devices", here)):
        module = types.ModuleType(name)
        module.__path__ = [path]
        sys.modules[name] = module


if __name__ == "__main__":
    _light_packages()
    from capturerig.devices._sender_child import main

    sys.exit(main(sys.argv[1:]))
