"""Per-image checks: every image of a take measured once (half-size) and judged against its camera's own
history and the take's other cameras -- sharpness, exposure, stale files, light mismatch, black frames and a
view that moved -- each with a verdict (ok / warn / fail) and a reason a technician acts on.

Domain layer: it reads files and knows nothing of sessions or the engine; the engine and ``capturerig qc``
hand it takes.
"""

from capturerig.config import QcSettings, QcThresholds
from capturerig.qc._checks import CHECKS, CheckResult, Verdict
from capturerig.qc._history import CameraHistory, Seen
from capturerig.qc._measure import ImageStats, QcError, centre_region, measure_image
from capturerig.qc._region import (
    DEFAULT_VOLUME,
    CaptureVolume,
    SubjectRegion,
    regions_document,
    rig_volume,
    session_views,
    subject_regions,
)
from capturerig.qc._runner import FileQc, QcFile, QcRunner, TakeQc
from capturerig.qc._serve import SERVE_SCRIPT

__all__ = [
           "CHECKS",
           "DEFAULT_VOLUME",
           "SERVE_SCRIPT",
           "CameraHistory",
           "CaptureVolume",
           "CheckResult",
           "FileQc",
           "ImageStats",
           "QcError",
           "QcFile",
           "QcRunner",
           "QcSettings",
           "QcThresholds",
           "Seen",
           "SubjectRegion",
           "TakeQc",
           "Verdict",
           "centre_region",
           "measure_image",
           "regions_document",
           "rig_volume",
           "session_views",
           "subject_regions",
]
