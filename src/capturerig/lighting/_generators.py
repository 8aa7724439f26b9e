"""Lighting generators: OLAT (one light at a time) and spherical gradient illumination.

The gradient patterns are those of light-stage practice (Ma et al. 2007, "Rapid acquisition of specular and
diffuse normal maps from polarized spherical gradient illumination"): a fixture in direction ``d`` from the
subject centre gets level ``(1 + d . axis) / 2`` for the x, y and z patterns, and 1 for the full pattern.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from capturerig.config import (
    FixtureCommand,
    GradientAxis,
    LightingCondition,
    RigConfig,
    generated_ids,
    selected_fixtures,
)

__all__ = ["expand_lighting", "gradient_levels"]

_AXES: dict[str, tuple[float, float, float]] = {"x": (1.0, 0.0, 0.0), "y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0)}


def gradient_levels(rig: RigConfig, fixtures: Sequence[str], axis: GradientAxis,
                    centre: tuple[float, float, float]) -> dict[str, float]:
    """Level 0..1 of each named fixture in the ``axis`` gradient pattern around ``centre`` (rig frame, m).

    A fixture at the centre itself has no direction and gets 0.5 in the x, y and z patterns.
    """
    by_id = {f.id: f for f in rig.fixtures}
    levels = {}
    for fixture_id in fixtures:
        if axis == "full":
            levels[fixture_id] = 1.0
            continue
        offset = np.asarray(by_id[fixture_id].position, dtype=float) - np.asarray(centre, dtype=float)
        norm = float(np.linalg.norm(offset))
        dot = 0.0 if norm < 1e-9 else float(np.dot(offset / norm, _AXES[axis]))
        levels[fixture_id] = min(max((1.0 + dot) / 2.0, 0.0), 1.0)
    return levels


def _scaled(command: FixtureCommand, level: float) -> FixtureCommand:
    base = command.intensity if command.intensity is not None else 1.0
    return command.model_copy(update={"intensity": round(base * level, 6)})


def expand_lighting(rig: RigConfig, entries: Sequence[LightingCondition]) -> tuple[LightingCondition, ...]:
    """Every lighting state of ``entries`` in order: states as they are, generators expanded.

    Ids are stable (the same rig and plan always give the same ids): ``olat-<fixture>``, ``grad-<axis>``,
    or the generator's ``id`` as prefix. Polarisation is carried to every generated state.
    """
    fixture_ids = [f.id for f in rig.fixtures]
    states: list[LightingCondition] = []
    for entry in entries:
        if entry.generator is None:
            states.append(entry)
            continue
        ids = generated_ids(entry, fixture_ids)
        if entry.generator == "olat":
            for state_id, fixture_id in ids:
                states.append(LightingCondition(
                    id=state_id, name=f"{entry.name or 'OLAT'}: {fixture_id}", polarisation=entry.polarisation,
                    levels={fixture_id: entry.command}))
        else:
            chosen = selected_fixtures(entry.fixtures, fixture_ids)
            for (state_id, _), axis in zip(ids, entry.axes, strict=True):
                levels = gradient_levels(rig, chosen, axis, entry.centre)
                states.append(LightingCondition(
                    id=state_id, name=f"{entry.name or 'gradient'}: {axis}", polarisation=entry.polarisation,
                    levels={f: _scaled(entry.command, level) for f, level in levels.items()}))
    return tuple(states)
