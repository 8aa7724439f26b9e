"""Plan expansion into ordered takes, and estimates of time and disk."""

from capturerig.plan._estimate import (
    ENGINE_OVERHEAD_S,
    LIGHT_FRAME_S,
    PlanEstimate,
    burst_refusal,
    estimate_plan,
    shutter_seconds,
    take_durations,
)
from capturerig.plan._expand import Take, expand_plan
from capturerig.plan._photosafety import (
    LightingStep,
    check_plan_photosafety,
    find_plan_violation,
    lighting_timeline,
    refuse_unsafe_plan,
)

__all__ = [
    "ENGINE_OVERHEAD_S",
    "LIGHT_FRAME_S",
    "LightingStep",
    "PlanEstimate",
    "Take",
    "burst_refusal",
    "check_plan_photosafety",
    "estimate_plan",
    "expand_plan",
    "find_plan_violation",
    "lighting_timeline",
    "refuse_unsafe_plan",
    "shutter_seconds",
    "take_durations",
]
