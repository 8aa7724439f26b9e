"""Plan expansion into ordered takes, and estimates of time and disk."""

from capturerig.plan._estimate import PlanEstimate, estimate_plan, shutter_seconds
from capturerig.plan._expand import Take, expand_plan
from capturerig.plan._photosafety import (
    LightingStep,
    check_plan_photosafety,
    find_plan_violation,
    lighting_timeline,
    refuse_unsafe_plan,
)

__all__ = [
    "LightingStep",
    "PlanEstimate",
    "Take",
    "check_plan_photosafety",
    "estimate_plan",
    "expand_plan",
    "find_plan_violation",
    "lighting_timeline",
    "refuse_unsafe_plan",
    "shutter_seconds",
]
