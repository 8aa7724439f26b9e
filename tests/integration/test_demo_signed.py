"""Every signed image of the demo's package, read by c2pa-python's own Reader under the demo's TEST trust anchors:
no validation errors, and the manifest says what packaging wrote (issue 23's first acceptance line).

Reads the shared demo package (tests/integration/conftest.py ``demo``); no demo of its own. c2pa's Reader is used
directly, not capturerig's verify, so a bug shared by our signer and our verifier cannot hide here.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import c2pa

from capturerig.provenance import (
    CAPTURE_LABEL,
    CAWG_ENTRIES,
    CAWG_LABEL,
    CONSENT_LABEL,
    DIGITAL_CAPTURE,
    ConsentClaim,
    manifest_format,
    training_mining,
)
from capturerig.provenance._context import _TRUST_CONFIG
from tests.integration.conftest import Demo

ORIGINALS = "originals/"


def _context(trust_pem: bytes) -> c2pa.Context:
    """Only the demo's TEST root trusted; validation on; nothing fetched."""
    return c2pa.Context.from_dict({
        "trust": {"trust_anchors": trust_pem.decode("ascii"), "trust_config": _TRUST_CONFIG},
        "verify": {"verify_trust": True, "verify_after_reading": True, "remote_manifest_fetch": False,
                   "ocsp_fetch": False}})


def _read(path: Path, trust_pem: bytes) -> dict[str, Any]:
    """c2pa's whole report on one image (a context per call: each reader thread has its own)."""
    with _context(trust_pem) as context, path.open("rb") as handle, \
            c2pa.Reader(manifest_format(path)[0], handle, context=context) as reader:
        report: dict[str, Any] = json.loads(reader.json())
    return report


def _failures(report: dict[str, Any]) -> list[str]:
    results = report.get("validation_results") or {}
    active = (results.get("activeManifest") or {}).get("failure", [])
    found = [f"{f.get('code')}: {f.get('explanation')}" for f in active]
    for delta in results.get("ingredientDeltas") or []:
        found += [f"ingredient {f.get('code')}" for f in (delta.get("validationDeltas") or {}).get("failure", [])]
    return found


def _when(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def test_c2pa_reader_validates_every_signed_image_and_reads_back_what_was_written(demo: Demo) -> None:
    data = demo.package / "data"
    document = json.loads((data / "package.json").read_text(encoding="utf-8"))
    trust = (demo.out / "signing" / "trust.pem").read_bytes()
    consent = ConsentClaim.from_consent_json((data / "provenance" / "consent.json").read_bytes())
    frames = document["frames"]
    signed = [(frame, path) for frame in frames for path in frame["signed_paths"]]
    folders = {path.split("/")[0] if path.startswith(ORIGINALS) else path.split("/", 2)[2].rsplit("/", 1)[0]
               for _, path in signed}
    # Every image a trainer gets is signed: the graded images, the undistorted ones and the kept originals.
    assert folders >= {"originals", "images", "undistorted/images"}, folders
    assert all(f"snapshots/{frame['snapshot']}/images/{frame['name']}" in frame["signed_paths"] for frame in frames)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(lambda item: _read(data / item[1], trust), signed))
    seconds = time.perf_counter() - started
    print(f"c2pa Reader: {len(signed)} images in {seconds:.1f} s")

    for (frame, path), report in zip(signed, reports, strict=True):
        where = f"data/{path}"
        assert _failures(report) == [], where
        assert report.get("validation_state") == "Trusted", (where, report.get("validation_state"))
        manifest = report["manifests"][report["active_manifest"]]
        assertions = {a["label"]: a["data"] for a in manifest["assertions"]}
        assert assertions[CAPTURE_LABEL] == {
            "schema": "capturerig.capture/1", "session_id": document["metadata"]["session_id"],
            "rig_id": document["metadata"]["rig"], "camera_id": frame["camera_id"], "take_id": frame["take_id"],
            "captured_at": _when(frame["exposed_at"])}, where
        written = assertions[CONSENT_LABEL]
        assert written == consent.assertion(), where
        assert written["consent_record_sha256"] == hashlib.sha256(
            (data / "provenance" / "consent.json").read_bytes()).hexdigest()
        assert written["consent_id"] == document["metadata"]["consent_id"]
        assert {k: v["use"] for k, v in assertions[CAWG_LABEL]["entries"].items()} == training_mining(
            consent.purposes)
        assert set(assertions[CAWG_LABEL]["entries"]) == set(CAWG_ENTRIES)
        actions = [a for label in ("c2pa.actions", "c2pa.actions.v2") for a in assertions.get(label, {}).get(
            "actions", [])]
        parents = [i for i in manifest.get("ingredients", []) if i.get("relationship") == "parentOf"]
        if path.startswith(ORIGINALS):
            assert [a["action"] for a in actions] == ["c2pa.created"], where
            assert actions[0]["digitalSourceType"] == DIGITAL_CAPTURE
            assert parents == [], where
        else:
            # A rendition: opened from its original (the parentOf ingredient, validated with it), then edited.
            edits = ["c2pa.color_adjustments"] + (["c2pa.edited"] if "/undistorted/" in path else [])
            assert [a["action"] for a in actions] == ["c2pa.opened", *edits], where
            assert [p["title"] for p in parents] == [frame["name"]], where
            assert frame["original_path"] in frame["signed_paths"]
