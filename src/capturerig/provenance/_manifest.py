"""What a signed image says: its capture, what was done to it, and what its subject's consent allows.

Every manifest holds ids and hashes only, never a name. Assertions, besides C2PA's own ``c2pa.actions``:

``org.capturerig.capture``
    session, rig, camera and take ids and the capture time (reverse-domain label: C2PA reserves ``c2pa.``
    and ``cawg.`` and asks custom assertions for a label under a domain their author controls).
``org.capturerig.consent``
    the consent record's id, the sha256 of the package's consent.json and of the signed consent document,
    and its scope: purposes, starts, expires.
``cawg.training-mining``
    the CAWG training-and-data-mining assertion (v1.0): each of the four uses "allowed" only when a consent
    purpose grants it (:data:`PURPOSE_GRANTS`), else "notAllowed".
"""

from __future__ import annotations

import datetime
import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capturerig.provenance._errors import SigningError

__all__ = ["ALGORITHMIC_MEDIA", "CAPTURE_LABEL", "CAWG_ENTRIES", "CAWG_LABEL", "CONSENT_LABEL", "DIGITAL_CAPTURE",
           "PURPOSE_GRANTS", "CaptureFacts", "ConsentClaim", "Edit", "ImageManifest", "training_mining"]

CAPTURE_LABEL = "org.capturerig.capture"
CONSENT_LABEL = "org.capturerig.consent"
CAWG_LABEL = "cawg.training-mining"
CAWG_ENTRIES = ("cawg.data_mining", "cawg.ai_training", "cawg.ai_generative_training", "cawg.ai_inference")
DIGITAL_CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicMedia"

# Consent purposes (the words `capturerig subjects consent --purpose` records) that grant a CAWG use. Generative
# training is the use that can remake a person's likeness, so it needs its own word; consenting to it also
# covers plain training. Every other purpose ("capture", "research", "demo" ...) grants none of the four.
PURPOSE_GRANTS: dict[str, tuple[str, ...]] = {
    "data-mining": ("cawg.data_mining",),
    "ai-training": ("cawg.ai_training",),
    "ai-generative-training": ("cawg.ai_training", "cawg.ai_generative_training"),
    "ai-inference": ("cawg.ai_inference",),
}


def training_mining(purposes: tuple[str, ...]) -> dict[str, str]:
    """``{cawg entry: "allowed" | "notAllowed"}`` for a consent's purposes (see :data:`PURPOSE_GRANTS`)."""
    granted = {entry for purpose in purposes for entry in PURPOSE_GRANTS.get(purpose, ())}
    return {entry: "allowed" if entry in granted else "notAllowed" for entry in CAWG_ENTRIES}


@dataclass(frozen=True)
class ConsentClaim:
    """The consent an image was packaged under, as the manifest carries it (ids, hashes, scope, dates)."""

    consent_id: str
    subject_id: str
    record_sha256: str  # sha256 of the package's provenance/consent.json bytes
    document_sha256: str = ""  # sha256 of the signed consent document ('' for an object)
    registry_id: str = ""
    purposes: tuple[str, ...] = ()
    starts: str = ""
    expires: str = ""
    subject_kind: str = "person"

    @classmethod
    def from_consent_json(cls, data: bytes, where: str = "consent.json") -> ConsentClaim:
        """From a package's ``provenance/consent.json`` (what subjects.package_provenance writes)."""
        try:
            record = json.loads(data)
        except ValueError as exc:
            raise SigningError(f"{where}: not JSON ({exc})") from exc
        if not isinstance(record, dict) or record.get("schema") != "capturerig.consent/1":
            raise SigningError(f"{where}: not a capturerig consent record (schema capturerig.consent/1)")
        scope = record.get("scope") or {}
        kind = str(record.get("subject_kind", "person"))
        if kind == "person" and not record.get("consent_id"):
            raise SigningError(f"{where}: field consent_id is empty for a person")
        return cls(consent_id=str(record.get("consent_id", "")), subject_id=str(record.get("subject_id", "")),
                   record_sha256=hashlib.sha256(data).hexdigest(),
                   document_sha256=str(record.get("document_sha256", "")),
                   registry_id=str(record.get("registry_id", "")),
                   purposes=tuple(str(p) for p in scope.get("purposes", ())),
                   starts=str(record.get("starts", "")), expires=str(record.get("expires", "")), subject_kind=kind)

    @classmethod
    def from_consent_file(cls, path: str | Path) -> ConsentClaim:
        source = Path(path)
        return cls.from_consent_json(source.read_bytes(), str(source))

    def assertion(self) -> dict[str, Any]:
        return {"schema": "capturerig.consent-claim/1", "subject_kind": self.subject_kind,
                "consent_id": self.consent_id, "subject_id": self.subject_id, "registry_id": self.registry_id,
                "consent_record_sha256": self.record_sha256, "document_sha256": self.document_sha256,
                "scope": {"purposes": list(self.purposes), "starts": self.starts, "expires": self.expires}}


@dataclass(frozen=True)
class CaptureFacts:
    """Where and when the original was captured (ids only)."""

    session_id: str
    rig_id: str
    camera_id: str
    captured_at: datetime.datetime  # timezone-aware
    take_id: str = ""

    def __post_init__(self) -> None:
        if self.captured_at.tzinfo is None:
            raise SigningError(f"capture time {self.captured_at.isoformat()} has no timezone: pass an aware datetime")

    @property
    def when(self) -> str:
        return self.captured_at.astimezone(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def assertion(self) -> dict[str, Any]:
        return {"schema": "capturerig.capture/1", "session_id": self.session_id, "rig_id": self.rig_id,
                "camera_id": self.camera_id, "take_id": self.take_id, "captured_at": self.when}


class Edit(enum.Enum):
    """A step from the original to a rendition, with the C2PA action that records it."""

    COLOUR_CORRECTION = ("c2pa.color_adjustments", "colour corrected from the studio's chart calibration")
    UNDISTORTION = ("c2pa.edited", "lens distortion removed (undistorted to a pinhole camera)")
    LINEARISATION = ("c2pa.color_adjustments", "developed to linear light (no tone curve)")
    DEVELOPMENT = ("c2pa.color_adjustments", "developed from the RAW file to an 8-bit sRGB image")
    MASK_ALPHA = ("c2pa.edited", "the subject mask added as alpha, the colour outside it set to 0")

    @property
    def action(self) -> str:
        return self.value[0]

    @property
    def description(self) -> str:
        return self.value[1]


@dataclass(frozen=True)
class ImageManifest:
    """What to sign into one image: an original (no ``edits``) or a rendition of ``parent``.

    ``parent`` is the original image file (signed or not); a rendition carries it as its ``parentOf``
    ingredient, so a reader can follow the rendition back to the capture.
    """

    capture: CaptureFacts
    consent: ConsentClaim
    edits: tuple[Edit, ...] = ()
    parent: Path | None = None
    title: str = ""
    software: str = "capturerig"
    extra: Mapping[str, Any] = field(default_factory=dict)  # more custom assertions, label -> data
    # An original's IPTC digitalSourceType (c2pa.created requires one): a capture, or for what a program wrote
    # (a package claim) algorithmicMedia.
    source_type: str = DIGITAL_CAPTURE

    def __post_init__(self) -> None:
        if self.edits and self.parent is None:
            raise SigningError(f"a rendition ({', '.join(e.name.lower() for e in self.edits)}) needs its original "
                               "as parent")
        for label in self.extra:
            if label.startswith(("c2pa.", "cawg.")) or label.count(".") < 2:
                raise SigningError(f"custom assertion label {label!r}: use a reverse-domain label like "
                                   "org.capturerig.name (c2pa. and cawg. are reserved)")

    def actions(self) -> list[dict[str, Any]]:
        if not self.edits:
            return [{"action": "c2pa.created", "digitalSourceType": self.source_type, "when": self.capture.when,
                     "softwareAgent": {"name": self.software}}]
        # c2pa.opened names the parent ingredient (linked by the builder through its instance id).
        steps: list[dict[str, Any]] = [{"action": "c2pa.opened", "softwareAgent": {"name": self.software},
                                        "parameters": {"ingredientIds": [_PARENT_ID]}}]
        steps += [{"action": e.action, "description": e.description, "softwareAgent": {"name": self.software}}
                  for e in self.edits]
        return steps

    def definition(self, title: str) -> dict[str, Any]:
        """The manifest definition c2pa's Builder takes."""
        assertions: list[dict[str, Any]] = [
            {"label": "c2pa.actions", "data": {"actions": self.actions()}},
            {"label": CAPTURE_LABEL, "data": self.capture.assertion()},
            {"label": CONSENT_LABEL, "data": self.consent.assertion()},
            {"label": CAWG_LABEL, "data": {"entries": {k: {"use": v}
                                                       for k, v in training_mining(self.consent.purposes).items()}}},
        ]
        assertions += [{"label": label, "data": dict(data)} for label, data in self.extra.items()]
        return {"title": self.title or title, "assertions": assertions}


_PARENT_ID = "capturerig-original"  # the parent ingredient's label within one manifest
PARENT_INGREDIENT_ID = _PARENT_ID
