"""Signing keeps what exiftool reads today: the XMP packaging writes, embedded in the image, survives a manifest."""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from capturerig.packaging import xmp_packet
from capturerig.provenance import (
    CaptureFacts,
    ConsentClaim,
    ImageManifest,
    create_test_identity,
    sign_image,
    verify_image,
)

EXIFTOOL = shutil.which("exiftool")
PLUS = "http://ns.useplus.org/ldf/vocab/"
# The fields subjects.package_provenance and the package writer put into every image's XMP.
FIELDS: dict[str, str | list[str]] = {
    "plus:ModelReleaseStatus": f"{PLUS}MR-LMR",
    "plus:ModelReleaseID": "C-7",
    "plus:MinorModelAgeDisclosure": f"{PLUS}AG-A25",
    "Iptc4xmpExt:DigitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture",
    "exif:DateTimeOriginal": "2026-11-30T14:05:07.250Z",
    "capturerig:Take": "p00/s00/l03/b0",
}
CONSENT = json.dumps({"schema": "capturerig.consent/1", "consent_id": "C-7", "subject_id": "P-42",
                      "document_sha256": "cd" * 32, "scope": {"purposes": ["capture"]},
                      "starts": "2026-01-01", "expires": "2027-12-31"}).encode()


def _exiftool(path: Path) -> dict[str, Any]:
    assert EXIFTOOL is not None
    out = subprocess.run([EXIFTOOL, "-j", "-XMP-plus:all", "-XMP-iptcExt:DigitalSourceType",
                          "-XMP-exif:DateTimeOriginal", "-XMP-capturerig:Take", str(path)],
                         capture_output=True, text=True, timeout=60, check=True)
    (tags,) = json.loads(out.stdout)
    return dict(tags)


@pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed (apt: libimage-exiftool-perl)")
@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_exiftool_reads_the_packaging_xmp_after_signing(tmp_path: Path, suffix: str) -> None:
    assert EXIFTOOL is not None
    image = tmp_path / f"cam017{suffix}"
    assert cv2.imwrite(str(image), np.full((240, 320, 3), 90, np.uint8))
    packet = tmp_path / "cam017.xmp"
    packet.write_bytes(xmp_packet(FIELDS))
    subprocess.run([EXIFTOOL, "-q", "-overwrite_original", f"-xmp<={packet}", str(image)], check=True, timeout=60)
    before = _exiftool(image)
    assert before["ModelReleaseID"] == "C-7"  # the embedding worked, so the check after signing means something

    identity = create_test_identity(tmp_path / "signing")
    facts = CaptureFacts("S-1", "sim-studio", "cam017", datetime.datetime(2026, 11, 30, 14, 5, tzinfo=datetime.UTC))
    sign_image(image, identity, ImageManifest(facts, ConsentClaim.from_consent_json(CONSENT)))
    assert verify_image(image, identity.trust_pem()).ok
    after = _exiftool(image)
    after.pop("SourceFile")
    before.pop("SourceFile")
    assert after == before
    assert after["ModelReleaseStatus"] == "Limited or Incomplete Model Releases"
    assert after["DigitalSourceType"] == "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
    assert after["Take"] == "p00/s00/l03/b0"
    assert _exiftool(packet)["ModelReleaseID"] == "C-7"  # the package's sidecar, as packaging ships it
