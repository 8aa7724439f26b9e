"""Packaging throughput against `cp` + `sha256sum` of the same images on the same disk.

Generates >= 2 GB of JPEGs (one real 24-megapixel-class JPEG made unique per file by a comment segment) in a
temporary folder on the disk the package goes to, then times, per run:

* baseline: ``cp`` of every image into a fresh folder, then ``sha256sum`` of the copies;
* package (link): ``write_package`` as on the session's filesystem: hard links, every byte read once for
  sha256 + sha512, parallel workers, BagIt tag files, COLMAP models and transforms.json;
* package (copy): the same with hard links refused, as onto another disk (copy + hash in one pass);
* package (copy, signed): the same with every image signed (C2PA, a TEST identity made in the temp folder) and
  the package claim; target: signing adds <= 20 % to the forced-copy time. Also one image's signing time alone.
  (JPEGs are signed by c2pa's data-hashed route: capturerig.provenance._embed.)

``write_package`` runs without ``undistorted/`` (decoding and re-encoding every image is a separate cost,
reported once at the end on rig-sized images). Target: package MB/s >= 0.8x the baseline's.
Run: .venv/bin/python bench/package.py [--gigabytes 2] [--runs 3] [--dir PATH]
"""

from __future__ import annotations

import argparse
import datetime
import errno
import hashlib
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import cv2
import numpy as np
from _figures import record  # bench/ is on sys.path when a script runs

from capturerig.config import RigConfig, default_rig_path, load_rig
from capturerig.packaging import PackageFrame, PackageSigning, write_package
from capturerig.provenance import (
    CaptureFacts,
    ConsentClaim,
    ImageManifest,
    ImageSigner,
    create_test_identity,
    load_identity,
)

METADATA = {"session_id": "bench", "capturerig_version": "bench"}


def _jpeg(width: int, height: int, seed: int) -> bytes:
    """A photo-like JPEG: smooth gradients plus sensor-like noise (compresses like a real capture)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], axis=-1)
    pixels = np.clip(base + rng.normal(0, 18, base.shape), 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return encoded.tobytes()


def _unique(jpeg: bytes, index: int) -> bytes:
    """The same picture with a COM segment after SOI, so every file has its own digest."""
    comment = f"capturerig bench image {index}".encode()
    return jpeg[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + jpeg[2:]


def make_frames(rig: RigConfig, folder: Path, jpeg: bytes, count: int) -> list[PackageFrame]:
    folder.mkdir(parents=True)
    frames = []
    for index in range(count):
        camera = rig.cameras[index % len(rig.cameras)]
        station = index // len(rig.cameras)
        name = f"{camera.id}_p00_s{station:02d}_l00.jpg"
        data = _unique(jpeg, index)
        (folder / name).write_bytes(data)
        frames.append(PackageFrame(
            source=folder / name, name=name, camera_id=camera.id, pose_id="p00", station_id=f"s{station:02d}",
            light_id="l00", bracket_id="b0", station_angle_deg=(station * 7.5) % 360,
            sha256=hashlib.sha256(data).hexdigest(), lighting={"id": "l00", "name": "bench"}))
    os.sync()
    return frames


@contextmanager
def _no_hard_links() -> Iterator[None]:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link (bench: as onto another disk)")

    with mock.patch("os.link", refuse):
        yield


def baseline(sources: Path, target: Path) -> float:
    started = time.perf_counter()
    target.mkdir()
    files = sorted(str(p) for p in sources.iterdir())
    subprocess.run(["cp", *files, str(target)], check=True)
    subprocess.run(["sha256sum", *sorted(str(p) for p in target.iterdir())], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def package(rig: RigConfig, frames: list[PackageFrame], target: Path, copy: bool, undistort: bool = False,
            signing: PackageSigning | None = None) -> float:
    started = time.perf_counter()
    if copy:
        with _no_hard_links():
            write_package(rig, frames, target, METADATA, undistort=undistort, signing=signing)
    else:
        write_package(rig, frames, target, METADATA, undistort=undistort, signing=signing)
    return time.perf_counter() - started


def one_signature(identity_dir: Path, image: Path, repeats: int = 5) -> float:
    """Median seconds to sign one image in memory on one thread (what each placing thread pays per image), given
    the sha256 packaging computed to check the captured file against its journal (the JPEG's hard binding)."""
    manifest = ImageManifest(CaptureFacts("bench", "bench", "cam", datetime.datetime.now(datetime.UTC)),
                             ConsentClaim("", "bench", ""))
    data = image.read_bytes()
    digest = hashlib.sha256(data).digest()
    with ImageSigner(load_identity(identity_dir)) as signer:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            signer.sign_bytes(data, image.name, manifest, sha256=digest)
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def _load() -> str:
    """The 1/5/15-minute load averages: other work on the machine skews every figure here."""
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gigabytes", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where to generate (default: the system temp dir)")
    args = parser.parse_args()
    rig = load_rig(default_rig_path()).config
    jpeg = _jpeg(6000, 4000, 1)
    count = max(len(rig.cameras), int(np.ceil(args.gigabytes * 1e9 / len(jpeg))))
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="capturerig-bench-package-", dir=args.dir) as temp:
        work = Path(temp)
        frames = make_frames(rig, work / "session", jpeg, count)
        total = sum(f.source.stat().st_size for f in frames)
        print(f"{count} images of {len(jpeg) / 1e6:.1f} MB = {total / 1e9:.2f} GB in {work} "
              f"(filesystem {os.statvfs(work).f_fsid:x})")
        identity = create_test_identity(work / "signing", studio="capturerig bench").directory
        signing = PackageSigning(str(identity), "bench", rig.name, None, "bench", "bench")
        timings: dict[str, list[float]] = {"cp + sha256sum": [], "package (hard links)": [], "package (copy)": [],
                                           "package (copy, signed)": []}
        for run in range(args.runs):
            for label, action in (("cp + sha256sum", lambda t: baseline(work / "session", t)),
                                  ("package (hard links)", lambda t: package(rig, frames, t, copy=False)),
                                  ("package (copy)", lambda t: package(rig, frames, t, copy=True)),
                                  ("package (copy, signed)",
                                   lambda t: package(rig, frames, t, copy=True, signing=signing))):
                target = work / f"out-{run}-{len(timings[label])}-{label.split()[0]}"
                timings[label].append(action(target))
                shutil.rmtree(target)
            print(f"run {run + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in timings.items())
                  + f"; load {_load()}")
        base = statistics.median(timings["cp + sha256sum"])
        print(f"{'method':<24}{'median s':>10}{'MB/s':>10}{'vs cp+sha256sum':>18}  (runs: {args.runs}; target >= 0.8x)")
        for label, values in timings.items():
            median = statistics.median(values)
            print(f"{label:<24}{median:>10.2f}{total / 1e6 / median:>10.0f}{base / median:>17.2f}x")
            if label != "cp + sha256sum":
                record("package", f"{label} throughput", total / 1e6 / median, "MB/s", better="higher",
                       bound=total / 1e6 / base, note="bound: cp + sha256sum of the same files")
        plain, signed = (statistics.median(timings[k]) for k in ("package (copy)", "package (copy, signed)"))
        added = (signed - plain) / plain * 100
        per_image = one_signature(identity, frames[0].source)
        print(f"signing: +{added:.1f} % on the forced-copy package time (target <= 20 %: "
              f"{'met' if added <= 20 else 'NOT met'}); {plain / count * 1000:.1f} ms plain vs "
              f"{signed / count * 1000:.1f} ms signed wall per image, {(signed - plain) / count * 1000:.1f} ms added, "
              f"with {os.cpu_count()} workers; {per_image * 1000:.1f} ms to sign one "
              f"{frames[0].source.stat().st_size / 1e6:.1f} MB JPEG on one thread; load {_load()}")
        record("package", "signing added to the forced-copy package time", added, "%", target=20.0)
        record("package", "signing one image (one thread)", per_image * 1000, "ms",
               note=f"{frames[0].source.stat().st_size / 1e6:.1f} MB JPEG, in memory")
        small = make_frames(rig, work / "rig-sized", _jpeg(480, 640, 2), 4 * len(rig.cameras))
        small_total = sum(f.source.stat().st_size for f in small)
        seconds = package(rig, small, work / "undistorted", copy=False, undistort=True)
        print(f"with undistorted/ (decode, remap, JPEG encode) on {len(small)} rig-sized images: "
              f"{small_total / 1e6 / seconds:.0f} MB/s, {len(small) / seconds:.0f} images/s")
        record("package", "with undistorted/ images", small_total / 1e6 / seconds, "MB/s", better="higher")


if __name__ == "__main__":
    main()
