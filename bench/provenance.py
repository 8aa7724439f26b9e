"""Cost of signing a 12 MP image with the studio's C2PA identity (issue 23), against copying it.

Makes a 4000 x 3000 camera-like frame (smooth shading, sensor noise) as JPEG (quality 95) and PNG, a TEST
signing identity, then for each format signs ``--repeat`` copies (a new file each time, as packaging would:
read the original, write the signed image, fsync, rename) and verifies them. The baseline is what a forced-copy
package pays per image anyway: copy + fsync. Issue 23's target is on the whole package (signing adds <= 20 %
to the forced-copy package time of the 2 GB bench session); the ratio here is the per-image share of that.
Run: .venv/bin/python bench/provenance.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from capturerig.provenance import (
    CaptureFacts,
    ConsentClaim,
    ImageManifest,
    ImageSigner,
    create_test_identity,
    verify_image,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _figures import record  # bench/ is not a package; bench/all.py collects these figures

CONSENT = json.dumps({"schema": "capturerig.consent/1", "consent_id": "C-bench", "subject_id": "P-bench",
                      "document_sha256": "00" * 32, "scope": {"purposes": ["capture", "ai-training"]},
                      "starts": "2026-01-01", "expires": "2030-01-01"}).encode()


def _frame() -> np.ndarray:
    rng = np.random.default_rng(23)
    y, x = np.mgrid[0:3000, 0:4000].astype(np.float32)
    base = 60 + 120 * np.exp(-(((x - 2000) / 1400) ** 2 + ((y - 1500) / 1100) ** 2))
    frame = np.stack([base * 0.9, base, base * 0.8], axis=-1) + rng.normal(0, 3, (3000, 4000, 3))
    return np.clip(frame, 0, 255).astype(np.uint8)


def _copy(source: Path, dest: Path) -> None:
    shutil.copyfile(source, dest)
    with dest.open("rb+") as handle:
        os.fsync(handle.fileno())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-provenance-") as scratch:
        root = Path(scratch)
        frame = _frame()
        identity = create_test_identity(root / "signing", studio="bench studio")
        facts = CaptureFacts("S-bench", "sim-studio", "cam001", datetime.datetime.now(datetime.UTC))
        manifest = ImageManifest(facts, ConsentClaim.from_consent_json(CONSENT))
        print(f"{'format':<6} {'size MB':>8} {'sign ms':>9} {'MB/s':>7} {'copy ms':>8} {'sign/copy':>9} "
              f"{'verify ms':>9}")
        formats = ((".jpg", [cv2.IMWRITE_JPEG_QUALITY, 95]), (".png", [cv2.IMWRITE_PNG_COMPRESSION, 1]))
        with ImageSigner(identity) as signer:
            for suffix, params in formats:
                original = root / f"frame{suffix}"
                assert cv2.imwrite(str(original), frame, params)
                megabytes = original.stat().st_size / 1e6
                signs, copies, verifies = [], [], []
                for index in range(args.repeat):
                    copy_to = root / f"copy{index}{suffix}"
                    started = time.perf_counter()
                    _copy(original, copy_to)
                    copies.append(time.perf_counter() - started)
                    signed = root / f"signed{index}{suffix}"
                    started = time.perf_counter()
                    signer.sign(original, manifest, dest=signed)
                    signs.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    verdict = verify_image(signed, identity.trust_pem())
                    verifies.append(time.perf_counter() - started)
                    assert verdict.ok, verdict.describe()
                    copy_to.unlink()
                    signed.unlink()
                sign_s, copy_s, verify_s = (statistics.median(v) for v in (signs, copies, verifies))
                name = "JPEG" if suffix == ".jpg" else "PNG"
                print(f"{name:<6} {megabytes:>8.1f} {sign_s * 1e3:>9.1f} {megabytes / sign_s:>7.0f} "
                      f"{copy_s * 1e3:>8.1f} {sign_s / copy_s:>9.2f} {verify_s * 1e3:>9.1f}")
                record("provenance", f"sign 12 MP {name} ({megabytes:.1f} MB), median per image", sign_s * 1e3, "ms",
                       note=f"read + sign + write + fsync + rename; copy + fsync alone: {copy_s * 1e3:.1f} ms")
                record("provenance", f"sign 12 MP {name} throughput", megabytes / sign_s, "MB/s", better="higher")
                record("provenance", f"verify 12 MP {name}, median per image", verify_s * 1e3, "ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
