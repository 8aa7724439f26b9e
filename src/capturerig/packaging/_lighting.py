"""The package's ``lighting/`` folder: fixtures, lighting states and each image's lighting.

A relighting trainer needs to know, per image, which fixtures were lit and how: the OLAT index (position of
the only lit fixture in the rig's fixture list, for one-light-at-a-time captures), the levels sent to every
fixture, the DMX frames on the wire and the polarisation of the state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from capturerig.config import RigConfig

__all__ = ["fixtures_document", "olat_index", "states_document"]


def olat_index(rig: RigConfig, lighting: Mapping[str, Any]) -> int | None:
    """0-based index in ``rig.fixtures`` of the only fixture a state lights; ``None`` for other states."""
    levels = lighting.get("levels")
    if not isinstance(levels, Mapping) or len(levels) != 1:
        return None
    (fixture_id,) = levels
    ids = [fixture.id for fixture in rig.fixtures]
    return ids.index(fixture_id) if fixture_id in ids else None


def fixtures_document(rig: RigConfig) -> dict[str, Any]:
    """``lighting/fixtures.json``: every fixture with its index, position (rig frame, metres) and patch."""
    return {
        "frame": "rig frame: metres, z up, origin at the turntable centre on the floor",
        "fixtures": [
            {"index": index, "id": fixture.id, "position": list(fixture.position), "profile": fixture.profile,
             "mode": fixture.mode, "output": fixture.output, "universe": fixture.universe,
             "address": fixture.address, "power": fixture.power}
            for index, fixture in enumerate(rig.fixtures)
        ],
    }


def states_document(rig: RigConfig, states: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``lighting/states.json``: every lighting state the package uses, with its OLAT index."""
    return {"states": [{**state, "olat_index": olat_index(rig, state)} for state in states]}
