"""Verify an image's C2PA manifest against the studio's trust list; one verdict per file and what it says.

Verdicts, worst reason first: ``missing`` (no manifest, embedded or sidecar), ``broken`` (the hard binding to the
image bytes does not match: the image changed after signing, or the manifest itself is damaged), ``untrusted``
(a valid signature by a certificate that does not chain to the studio's roots), ``invalid`` (other validation
failures, listed), ``ok``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import c2pa

from capturerig.provenance._context import c2pa_context
from capturerig.provenance._manifest import CAPTURE_LABEL, CAWG_LABEL, CONSENT_LABEL
from capturerig.provenance._sign import manifest_format, sidecar_path

__all__ = ["ImageVerdict", "Verdict", "verify_image"]

# Failure codes that mean the bytes no longer match what was signed (C2PA 2.x validation codes).
_BINDING_CODES = ("assertion.dataHash.mismatch", "assertion.boxesHash.mismatch", "assertion.bmffHash.mismatch",
                  "assertion.collectionHash.mismatch", "assertion.hashedURI.mismatch", "claimSignature.mismatch")
_UNTRUSTED_CODES = ("signingCredential.untrusted",)


class Verdict(enum.Enum):
    OK = "ok"
    MISSING = "missing manifest"
    BROKEN = "broken"
    UNTRUSTED = "signed by a key not in the studio's trust list"
    INVALID = "validation errors"


@dataclass(frozen=True)
class ImageVerdict:
    """What verifying one image found, and the assertions read back (empty when there is no manifest)."""

    path: Path
    verdict: Verdict
    problems: tuple[str, ...] = ()  # c2pa's failure codes with their explanations
    signer: str = ""  # the signing certificate's common name and issuer
    capture: Mapping[str, Any] = field(default_factory=dict)
    consent: Mapping[str, Any] = field(default_factory=dict)
    training_mining: Mapping[str, str] = field(default_factory=dict)  # cawg entry -> use
    actions: tuple[str, ...] = ()
    parents: tuple[str, ...] = ()  # titles of the parentOf ingredients (a rendition's original)
    sidecar: Path | None = None

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.OK

    def describe(self) -> str:
        """One line for a person: the file, the verdict and why."""
        why = f": {'; '.join(self.problems)}" if self.problems else ""
        by = f" (signed by {self.signer})" if self.signer and self.verdict is not Verdict.MISSING else ""
        return f"{self.path}: {self.verdict.value}{by}{why}"


def _failures(results: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if not results:
        return []
    found = list((results.get("activeManifest") or {}).get("failure") or [])
    for delta in results.get("ingredientDeltas") or []:
        found += [dict(f, code=f"ingredient {f.get('code')}")
                  for f in ((delta.get("validationDeltas") or {}).get("failure") or [])]
    return found


def _classify(codes: list[str]) -> Verdict:
    if any(code in _BINDING_CODES for code in codes):
        return Verdict.BROKEN
    if any(code in _UNTRUSTED_CODES for code in codes):
        return Verdict.UNTRUSTED
    return Verdict.INVALID if codes else Verdict.OK


def _read_back(path: Path, reader: c2pa.Reader, sidecar: Path | None) -> ImageVerdict:
    manifest = reader.get_active_manifest() or {}
    failures = _failures(reader.get_validation_results())
    codes = [str(f.get("code", "")) for f in failures]
    problems = tuple(f"{f.get('code')}: {f.get('explanation', '')}".rstrip(": ") for f in failures)
    verdict = _classify(codes)
    if verdict is Verdict.OK and reader.get_validation_state() != "Trusted":
        verdict, problems = Verdict.UNTRUSTED, (f"validation state {reader.get_validation_state()}",)
    assertions = {a.get("label"): a.get("data") for a in manifest.get("assertions", [])}
    info = manifest.get("signature_info") or {}
    entries = (assertions.get(CAWG_LABEL) or {}).get("entries") or {}
    actions = tuple(str(a.get("action")) for label in ("c2pa.actions.v2", "c2pa.actions")
                    for a in (assertions.get(label) or {}).get("actions", []))
    return ImageVerdict(path, verdict, problems,
                        signer=", issuer ".join(str(info[k]) for k in ("common_name", "issuer") if info.get(k)),
                        capture=assertions.get(CAPTURE_LABEL) or {}, consent=assertions.get(CONSENT_LABEL) or {},
                        training_mining={k: str((v or {}).get("use")) for k, v in entries.items()},
                        actions=actions, sidecar=sidecar,
                        parents=tuple(str(i.get("title")) for i in manifest.get("ingredients", [])
                                      if i.get("relationship") == "parentOf"))


def verify_image(path: str | Path, trust_pem: bytes) -> ImageVerdict:
    """Validate ``path``'s manifest (embedded, or its ``.c2pa`` sidecar) against the roots in ``trust_pem``.

    Never raises for what is wrong with the image: that is the verdict. Raises OSError when ``path`` cannot
    be read at all.
    """
    image = Path(path)
    mime, embedded = manifest_format(image)
    sidecar = None if embedded else sidecar_path(image)
    if sidecar is not None and not sidecar.is_file():
        image.stat()  # a missing image is not a verdict about a manifest: OSError
        return ImageVerdict(image, Verdict.MISSING, (f"no sidecar manifest {sidecar.name}",))
    with image.open("rb") as handle:  # raises OSError for a missing file
        try:
            with c2pa_context(trust_pem) as context:
                manifest_data = sidecar.read_bytes() if sidecar is not None else None
                reader = c2pa.Reader.try_create(mime, handle, manifest_data, context)
                if reader is None:
                    return ImageVerdict(image, Verdict.MISSING, ("no C2PA manifest in the file",))
                with reader:
                    return _read_back(image, reader, sidecar)
        except c2pa.C2paError as exc:
            # The manifest store itself cannot be parsed (a damaged JUMBF box, a cut-off file).
            return ImageVerdict(image, Verdict.BROKEN, (f"the manifest cannot be read: {exc}",), sidecar=sidecar)
