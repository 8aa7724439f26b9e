"""Plan expansion into ordered takes, and estimates of time and disk."""

from capturerig.plan._estimate import PlanEstimate, estimate_plan, shutter_seconds
from capturerig.plan._expand import Take, expand_plan

__all__ = ["PlanEstimate", "Take", "estimate_plan", "expand_plan", "shutter_seconds"]
