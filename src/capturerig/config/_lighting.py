"""Lighting in plan and rig files: fixture commands, lighting conditions and generators, the subject's
photosensitivity settings and the rig's light-safety policy (frozen pydantic)."""

from __future__ import annotations

import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from capturerig.config._base import FrozenModel
from capturerig.config._validation import PLAN_ID_PATTERN

__all__ = [
    "DEFAULT_MAX_FLASHES_PER_S",
    "FixtureCommand",
    "GradientAxis",
    "LightSafety",
    "LightingCondition",
    "PhotosensitivityOverride",
    "Polarisation",
    "Subject",
    "generated_ids",
    "selected_fixtures",
]

# WCAG 2.x general flash threshold: no more than three flashes in any one-second period.
DEFAULT_MAX_FLASHES_PER_S = 3
GradientAxis = Literal["x", "y", "z", "full"]
Polarisation = Literal["none", "parallel", "cross"]
PlanId = Annotated[str, StringConstraints(pattern=PLAN_ID_PATTERN)]


def _level_in_range(level: float) -> float:
    if not 0.0 <= level <= 1.0:
        raise ValueError(f"level {level:g} is outside 0..1 (0 = off, 1 = full)")
    return level


Level = Annotated[float, AfterValidator(_level_in_range)]
_COLOR_FIELDS = ("red", "green", "blue", "white")


class FixtureCommand(FrozenModel):
    """What one fixture should do: intensity 0..1, colour (RGB(W) 0..1), CCT in kelvin, strobe rate.

    Fields left out are off (0), except a strobe channel, which stays open (no strobing). ``color`` is a
    shorthand for red, green, blue[, white]. A mode without an intensity channel scales its colour channels
    by ``intensity`` instead.
    """

    intensity: Level | None = None
    red: Level | None = None
    green: Level | None = None
    blue: Level | None = None
    white: Level | None = None
    amber: Level | None = None
    uv: Level | None = None
    color: tuple[Level, Level, Level] | tuple[Level, Level, Level, Level] | None = None
    cct: float | None = Field(default=None, ge=1000, le=20000, description="colour temperature in kelvin")
    strobe_hz: float | None = Field(default=None, ge=0, le=100, description="0 or absent = no strobe")

    @model_validator(mode="after")
    def _color_once(self) -> FixtureCommand:
        if self.color is not None:
            given = [name for name in _COLOR_FIELDS[: len(self.color)] if getattr(self, name) is not None]
            if given:
                raise ValueError(f"gives color and {', '.join(given)}; use one way to say the colour")
        return self

    def channel_levels(self) -> dict[str, float]:
        """Colour levels by role (red, green, blue, white, amber, uv), ``color`` spelled out."""
        levels = {name: getattr(self, name) for name in (*_COLOR_FIELDS, "amber", "uv")}
        if self.color is not None:
            levels.update(zip(_COLOR_FIELDS, self.color, strict=False))
        return {name: float(value) for name, value in levels.items() if value is not None}

    def merged(self, over: FixtureCommand) -> FixtureCommand:
        """This command with every field ``over`` sets replaced (a fixture's own entry over ``*``)."""
        values = self.model_dump(exclude_none=True)
        if over.color is not None:
            for name in _COLOR_FIELDS:
                values.pop(name, None)
        if any(getattr(over, name) is not None for name in _COLOR_FIELDS):
            values.pop("color", None)
        values.update(over.model_dump(exclude_none=True))
        return FixtureCommand.model_validate(values)


class LightingCondition(FrozenModel):
    """A lighting state, or a generator of several (``generator: olat | gradient``).

    A state: ``id``, ``levels`` (fixture id or ``*`` for every fixture -> command) and ``polarisation``
    (recorded in the metadata). A generator: ``olat`` lights ``fixtures`` one at a time; ``gradient`` gives
    the spherical gradient patterns ``axes`` from the fixtures' positions relative to ``centre``; ``command``
    is the look of a fully lit fixture; ``id`` (optional) prefixes the generated ids (``olat-fx3``,
    ``grad-x``).
    """

    id: PlanId | None = None
    name: str = ""
    levels: dict[str, FixtureCommand] = Field(default_factory=dict)
    polarisation: Polarisation = "none"
    generator: Literal["olat", "gradient"] | None = None
    fixtures: str | tuple[str, ...] = "*"
    axes: tuple[GradientAxis, ...] = Field(default=("x", "y", "z", "full"), min_length=1)
    centre: tuple[float, float, float] = (0.0, 0.0, 1.0)
    command: FixtureCommand = FixtureCommand(intensity=1.0, color=(1.0, 1.0, 1.0, 1.0))

    @model_validator(mode="after")
    def _state_or_generator(self) -> LightingCondition:
        if self.generator is None and self.id is None:
            raise ValueError("needs an id (or generator: olat | gradient to generate lighting states)")
        if self.generator is not None and self.levels:
            raise ValueError(f"a {self.generator} generator makes its own levels; remove 'levels'")
        return self

    @property
    def state_id(self) -> str:
        """The id of a lighting state (generators have none until expanded)."""
        if self.id is None:
            raise ValueError(f"a {self.generator} generator is not a lighting state; expand the plan first")
        return self.id


class PhotosensitivityOverride(FrozenModel):
    """A screening that allows more flashes per second for one subject; it is logged in every session."""

    screened_by: str = Field(min_length=1, description="who screened the subject")
    screened_on: datetime.date = Field(description="when (YYYY-MM-DD)")
    max_flashes_per_s: int = Field(ge=0, le=60, description="the new limit")
    note: str = ""


class Subject(FrozenModel):
    """Who or what is in the rig; a person gets the photosensitivity limit unless screened."""

    kind: Literal["person", "object"] = "person"
    photosensitivity_override: PhotosensitivityOverride | None = None


class LightSafety(FrozenModel):
    """The studio's flash limit for people (lower only; raise per subject with a screening override)."""

    max_flashes_per_s: int = Field(default=DEFAULT_MAX_FLASHES_PER_S, ge=0, le=DEFAULT_MAX_FLASHES_PER_S)
    flash_threshold: float = Field(default=0.1, gt=0, le=1,
                                   description="a change counts when it is at least this share of full light")


def _safe_id(text: str) -> str:
    return "".join(c if c.isalnum() or c == "-" else "-" for c in text)


def generated_ids(entry: LightingCondition, fixture_ids: list[str]) -> list[tuple[str, str]]:
    """``(state id, what)`` of every state a lighting entry stands for, in order (``what``: fixture or axis).

    A state is itself; ``olat`` gives ``<id or 'olat'>-<fixture id>`` per fixture, ``gradient``
    ``<id or 'grad'>-<axis>``. Ids stay file-name safe: '_' and other characters become '-', and an id that
    would be too long (or collide) falls back to the fixture's index (``olat-003``).
    """
    if entry.generator is None:
        return [(entry.state_id, "")]
    if entry.generator == "gradient":
        prefix = entry.id or "grad"
        return [(f"{prefix}-{axis}", axis) for axis in entry.axes]
    prefix = entry.id or "olat"
    chosen = selected_fixtures(entry.fixtures, fixture_ids)
    result: list[tuple[str, str]] = []
    seen: set[str] = set()
    for fixture_id in chosen:
        state_id = f"{prefix}-{_safe_id(fixture_id)}"
        if len(state_id) > 24 or state_id in seen:
            state_id = f"{prefix}-{fixture_ids.index(fixture_id):03d}"
        seen.add(state_id)
        result.append((state_id, fixture_id))
    return result


def selected_fixtures(fixtures: str | tuple[str, ...], fixture_ids: list[str]) -> list[str]:
    """The fixture ids a generator's ``fixtures`` names (``*`` = all), in rig order."""
    if fixtures == "*" or fixtures == ("*",):
        return list(fixture_ids)
    wanted = {fixtures} if isinstance(fixtures, str) else set(fixtures)
    return [f for f in fixture_ids if f in wanted]
