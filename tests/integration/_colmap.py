"""COLMAP, run as a user runs it, on one snapshot of a training package: an independent check of its cameras.

Two checks share one database (SIFT features and geometrically verified matches of the snapshot's images):

- ``triangulate_fixed``: ``point_triangulator`` with the package's poses and intrinsics held fixed. Right
  cameras give many points seen by many images that reproject within a fraction of a pixel; wrong ones give
  short tracks (rays of one feature miss each other, so tracks split) and larger residuals.
- ``map_free``: ``mapper`` without the poses. Its camera centres, aligned to the package's by a similarity
  (COLMAP's frame and scale are its own), must land where the package put them.

The database is seeded with the package's cameras and images (same ids, names and intrinsics) before
``feature_extractor`` runs: COLMAP then extracts features into those rows, ``point_triangulator`` finds every
packaged image id in the database, and the two-view verification uses the packaged intrinsics. Everything
runs through the ``colmap`` command line on the CPU (headless, no network); the result is read with pycolmap.

Facts about Debian's COLMAP 3.8 this relies on (checked in its source, src/exe/sfm.cc and
src/base/image_reader.cc of tag 3.8):

- It reads a model's cameras/images/points3D files and ignores the rigs.bin and frames.bin newer writers add.
- Its ``point_triangulator`` hard-codes a bundle adjustment with every pose and intrinsic constant (it has
  ``--clear_points`` but no ``--refine_intrinsics``); the ``--Mapper.ba_refine_*`` flags below only keep that
  explicit. With ``--clear_points 1`` it renumbers the model's images to the database's ids by name.
- ``feature_extractor`` keeps an image row that already exists (its id and camera) and only adds features.
- A database made by ``database_creator`` of 3.8 has no rigs/frames tables; a newer COLMAP's has them and
  cannot be seeded with plain rows this way (``seed_database`` says so).
"""

from __future__ import annotations

import os
import resource
import shutil
import sqlite3
import subprocess
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pycolmap

__all__ = [
    "ColmapError",
    "Cost",
    "FixedPoseBounds",
    "FixedPoseReport",
    "Matched",
    "PoseFreeReport",
    "colmap_executable",
    "colmap_version",
    "map_free",
    "match",
    "triangulate_fixed",
]

# Two cores here (and on CI): more threads than cores only adds contention; COLMAP's default (-1) takes all.
THREADS = max(1, min(os.cpu_count() or 1, 4))
# Per COLMAP step; the whole snapshot (32 images of 480 x 640) takes seconds per step on two cores.
STEP_TIMEOUT_S = 600.0
# COLMAP's own default for a usable image pair (Mapper.min_num_matches, also what point_triangulator loads).
MIN_NUM_MATCHES = 15
# A verified pair "contradicts" the packaged geometry when the median distance of its inlier matches from
# their epipolar lines (packaged poses and intrinsics) exceeds this: COLMAP's own two-view inlier threshold
# (TwoViewGeometry.max_error, 4 px), so the pair's matches cannot be inliers of the packaged geometry.
CONTRADICTION_PX = 4.0
# database.cc: pair_id = image_id1 * kMaxNumImages + image_id2 with image_id1 < image_id2.
_MAX_NUM_IMAGES = 2147483647


class ColmapError(RuntimeError):
    """A ``colmap`` step failed, or its output cannot be used; the message names the step and its output."""


@dataclass(frozen=True)
class Cost:
    """What one ``colmap`` step cost: wall time and the CPU time of its process (user + system)."""

    wall_s: float
    cpu_s: float

    def __str__(self) -> str:
        return f"{self.wall_s:.1f} s (CPU {self.cpu_s:.1f} s)"


def colmap_executable() -> str | None:
    """The ``colmap`` on PATH (Debian's package installs /usr/bin/colmap), or None."""
    return shutil.which("colmap")


def colmap_version(colmap: str) -> str:
    """The first line of ``colmap -h``, e.g. ``COLMAP 3.8 -- Structure-from-Motion and Multi-View Stereo``."""
    result = subprocess.run([colmap, "-h"], env=_env(), capture_output=True, text=True, timeout=60, check=False)
    lines = [line.strip() for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    return lines[0] if lines else "unknown COLMAP"


@dataclass(frozen=True)
class Matched:
    """One snapshot's COLMAP database: the packaged cameras and images, their features and verified matches."""

    colmap: str
    version: str
    images_dir: Path
    sparse_dir: Path
    database: Path
    work_dir: Path
    num_images: int
    camera_model: str
    verified_pairs: int
    costs: dict[str, Cost]
    reused_from: Path | None = None

    def verified_pair_names(self) -> list[tuple[str, str]]:
        """The image pairs COLMAP verified here (at least ``MIN_NUM_MATCHES`` inliers), by image name."""
        with closing(sqlite3.connect(self.database)) as connection:
            names = dict(connection.execute("SELECT image_id, name FROM images").fetchall())
        return [(names[id1], names[id2]) for id1, id2, _ in _verified_pairs(self.database)]

    def for_model(self, images_dir: Path, sparse_dir: Path) -> Matched:
        """This database for another model of the same images (e.g. the same session packaged with other
        geometry): features and matches are reused, so only the cameras differ between the two checks.

        Raises ColmapError unless the model names the same images and every image has the same pixels (what
        COLMAP's features come from: a file may differ in its metadata, e.g. a signed package's embedded manifest).
        """
        model = pycolmap.Reconstruction(str(sparse_dir))
        names = sorted(image.name for image in model.images.values())
        ours = sorted(image.name for image in pycolmap.Reconstruction(str(self.sparse_dir)).images.values())
        if names != ours:
            raise ColmapError(f"{sparse_dir} names other images than {self.sparse_dir}; match it on its own")
        different = [n for n in names if not _same_pixels(images_dir / n, self.images_dir / n)]
        if different:
            raise ColmapError(f"{len(different)} images differ from {self.images_dir} (e.g. {different[0]}); "
                              "match them on their own")
        model_name = {camera.model.name for camera in model.cameras.values()}
        return Matched(self.colmap, self.version, images_dir, sparse_dir, self.database, self.work_dir,
                       self.num_images, "/".join(sorted(model_name)), self.verified_pairs, {}, self.sparse_dir)


@dataclass(frozen=True)
class FixedPoseBounds:
    """What a right geometry gives when COLMAP triangulates with it held fixed."""

    min_points: int
    min_mean_track: float
    max_mean_reprojection_px: float


@dataclass(frozen=True)
class FixedPoseReport:
    """What ``point_triangulator`` made of a snapshot with its packaged poses and intrinsics held fixed."""

    camera_model: str
    images: int
    images_with_points: int
    points: int
    mean_track: float
    mean_reprojection_px: float
    verified_pairs: int
    contradicting_pairs: int
    median_epipolar_px: float
    costs: dict[str, Cost]
    note: str = ""

    def problems(self, bounds: FixedPoseBounds) -> list[str]:
        """Each figure outside ``bounds``, saying by how much; empty when the geometry passes."""
        found = []
        if self.points < bounds.min_points:
            found.append(f"{self.points} points < {bounds.min_points}")
        if not self.mean_track >= bounds.min_mean_track:
            found.append(f"mean track {self.mean_track:.2f} images < {bounds.min_mean_track}")
        if not self.mean_reprojection_px <= bounds.max_mean_reprojection_px:
            found.append(f"mean reprojection error {self.mean_reprojection_px:.2f} px "
                         f"> {bounds.max_mean_reprojection_px} px")
        return found

    def __str__(self) -> str:
        return (f"{self.camera_model}: {self.points} points in {self.images_with_points}/{self.images} images, "
                f"mean track {self.mean_track:.2f}, mean reprojection error {self.mean_reprojection_px:.3f} px; "
                f"{self.contradicting_pairs}/{self.verified_pairs} verified image pairs contradict the packaged "
                f"geometry (median epipolar distance {self.median_epipolar_px:.2f} px); {_timing(self.costs)}"
                + (f"; {self.note}" if self.note else ""))


@dataclass(frozen=True)
class PoseFreeReport:
    """What ``mapper`` made of a snapshot without its poses, aligned to the packaged camera centres."""

    camera_model: str
    images: int
    model_sizes: list[int]
    unregistered: list[str]
    rig_radius_m: float
    centre_errors_m: dict[str, float] = field(repr=False)
    costs: dict[str, Cost] = field(default_factory=dict)
    note: str = ""

    @property
    def max_error_share(self) -> float:
        """The largest centre error as a share of the rig radius (inf when nothing could be aligned)."""
        return max(self.centre_errors_m.values()) / self.rig_radius_m if self.centre_errors_m else float("inf")

    def problems(self, max_share: float) -> list[str]:
        """Unregistered images, extra models and centres further than ``max_share`` of the rig radius."""
        found = []
        if len(self.model_sizes) != 1:
            found.append(f"{len(self.model_sizes)} models (images registered: {self.model_sizes})"
                         + (f"; {self.note}" if self.note else ""))
        if self.unregistered:
            found.append(f"{len(self.unregistered)}/{self.images} images not in the largest model "
                         f"(e.g. {', '.join(self.unregistered[:4])})")
        far = {n: e for n, e in self.centre_errors_m.items() if e > max_share * self.rig_radius_m}
        for name, error in sorted(far.items(), key=lambda item: -item[1])[:6]:
            found.append(f"{name} centre {error * 1000:.0f} mm from the packaged one "
                         f"({100 * error / self.rig_radius_m:.2f} % of the {self.rig_radius_m:.2f} m rig radius "
                         f"> {100 * max_share:g} %)")
        if len(far) > 6:
            found.append(f"... {len(far) - 6} more centres beyond {100 * max_share:g} % of the rig radius")
        return found

    def __str__(self) -> str:
        errors = np.array(list(self.centre_errors_m.values())) if self.centre_errors_m else np.array([np.nan])
        largest = max(self.model_sizes) if self.model_sizes else 0
        return (f"{self.camera_model}: {len(self.model_sizes)} model(s) {self.model_sizes}, {largest}/{self.images} "
                f"images registered in the largest; camera centres after a similarity alignment: median "
                f"{1000 * np.median(errors):.1f} mm, max {1000 * np.max(errors):.1f} mm "
                f"({100 * self.max_error_share:.2f} % of the {self.rig_radius_m:.3f} m rig radius); "
                f"{_timing(self.costs)}" + (f"; {self.note}" if self.note else ""))


def match(images_dir: Path, sparse_dir: Path, work_dir: Path, colmap: str | None = None,
          pairs: list[tuple[str, str]] | None = None) -> Matched:
    """Build the snapshot's database in ``work_dir``: packaged cameras and images, SIFT features, exhaustive
    matching with two-view verification (CPU); or, given ``pairs`` (image names), only those pairs are matched
    and verified (``matches_importer``), as COLMAP does for any pair list.

    Raises ColmapError when colmap is missing, a step fails, or an image gets no features (e.g. its size
    differs from its camera's).
    """
    colmap = colmap or colmap_executable()
    if colmap is None:
        raise ColmapError("no `colmap` on PATH (Debian: apt-get install colmap; scripts/bootstrap.sh does it)")
    work_dir.mkdir(parents=True, exist_ok=True)
    model = pycolmap.Reconstruction(str(sparse_dir))
    database = work_dir / "database.db"
    database.unlink(missing_ok=True)
    costs: dict[str, Cost] = {}
    costs["database"] = _run(colmap, "database_creator", ["--database_path", str(database)], work_dir)
    seed_database(database, model)
    image_list = work_dir / "image-list.txt"
    image_list.write_text("".join(f"{image.name}\n" for image in model.images.values()), encoding="utf-8")
    costs["features"] = _run(colmap, "feature_extractor", [
        "--database_path", str(database), "--image_path", str(images_dir), "--image_list_path", str(image_list),
        "--SiftExtraction.use_gpu", "0", "--SiftExtraction.num_threads", str(THREADS)], work_dir)
    _require_features(database, model)
    # Matching on one thread: RANSAC's draws in two-view verification follow each thread's random state, so with
    # two threads a run's inlier sets (and the pose-free mapper's cameras downstream) varied from run to run.
    matching = ["--database_path", str(database), "--SiftMatching.use_gpu", "0",
                "--SiftMatching.num_threads", "1"]
    if pairs is None:
        costs["matching"] = _run(colmap, "exhaustive_matcher", matching, work_dir)
    else:
        names = {image.name for image in model.images.values()}
        unknown = sorted({name for pair in pairs for name in pair} - names)
        if unknown:
            raise ColmapError(f"the pair list names images not in {sparse_dir} (e.g. {unknown[0]})")
        pair_list = work_dir / "pair-list.txt"
        pair_list.write_text("".join(f"{a} {b}\n" for a, b in pairs), encoding="utf-8")
        costs["matching"] = _run(colmap, "matches_importer", [
            *matching, "--match_list_path", str(pair_list), "--match_type", "pairs"], work_dir)
    verified = len(_verified_pairs(database))
    models = sorted({camera.model.name for camera in model.cameras.values()})
    return Matched(colmap, colmap_version(colmap), images_dir, sparse_dir, database, work_dir, model.num_images(),
                   "/".join(models), verified, costs)


def seed_database(database: Path, model: pycolmap.Reconstruction) -> None:
    """Write ``model``'s cameras and images into an empty COLMAP (<= 3.11) database with their own ids.

    ``prior_focal_length`` is set, so COLMAP trusts the packaged focal lengths (two-view verification
    through the essential matrix, and the mapper's initial intrinsics).
    """
    with closing(sqlite3.connect(database)) as connection, connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "frames" in tables:
            raise ColmapError(f"{database} has the rigs/frames schema of COLMAP >= 3.12; seed it through "
                              "pycolmap.Database instead (this harness targets Debian's colmap 3.8)")
        for camera_id, camera in model.cameras.items():
            connection.execute(
                "INSERT INTO cameras (camera_id, model, width, height, params, prior_focal_length) "
                "VALUES (?, ?, ?, ?, ?, 1)",
                (camera_id, int(camera.model.value), camera.width, camera.height,
                 np.asarray(camera.params, dtype=np.float64).tobytes()))
        for image_id, image in model.images.items():
            connection.execute("INSERT INTO images (image_id, name, camera_id) VALUES (?, ?, ?)",
                               (image_id, image.name, image.camera_id))


def triangulate_fixed(matched: Matched, work_dir: Path) -> FixedPoseReport:
    """Triangulate ``matched``'s features with its packaged model's poses and intrinsics held fixed."""
    out = _empty_dir(work_dir / "triangulated")
    costs = dict(matched.costs)
    costs["triangulation"] = _run(matched.colmap, "point_triangulator", [
        "--database_path", str(matched.database), "--image_path", str(matched.images_dir),
        "--input_path", str(matched.sparse_dir), "--output_path", str(out), "--clear_points", "1",
        "--Mapper.ba_refine_focal_length", "0", "--Mapper.ba_refine_principal_point", "0",
        "--Mapper.ba_refine_extra_params", "0", "--Mapper.num_threads", str(THREADS)], work_dir)
    packaged = pycolmap.Reconstruction(str(matched.sparse_dir))
    result = pycolmap.Reconstruction(str(out))
    _require_same_cameras(packaged, result)
    errors = _reprojection_errors(result)
    tracks = [point.track.length() for point in result.points3D.values()]
    distances = _pair_epipolar_medians(matched.database, packaged)
    return FixedPoseReport(
        camera_model=matched.camera_model, images=packaged.num_images(),
        images_with_points=sum(1 for image in result.images.values() if image.num_points3D > 0),
        points=result.num_points3D(), mean_track=float(np.mean(tracks)) if tracks else 0.0,
        mean_reprojection_px=float(np.mean(errors)) if errors.size else float("inf"),
        verified_pairs=len(distances), contradicting_pairs=int(np.sum(distances > CONTRADICTION_PX)),
        median_epipolar_px=float(np.median(distances)) if distances.size else float("nan"), costs=costs,
        note="" if matched.reused_from is None else f"features and matches reused from {matched.reused_from}'s "
                                                    "images (the same pixels)")


def map_free(matched: Matched, work_dir: Path) -> PoseFreeReport:
    """Reconstruct ``matched``'s images without poses (intrinsics as packaged, held fixed) and compare every
    registered camera centre with the packaged one after a least-squares similarity alignment."""
    out = _empty_dir(work_dir / "mapped")
    costs = dict(matched.costs)
    # The mapper exits 1 when it makes no model at all: that is a finding here, not a harness error. One thread: with
    # two, bundle adjustment's sums and RANSAC's draws vary run to run, and so did a camera's centre (9 to 24 mm).
    costs["mapping"] = _run(matched.colmap, "mapper", [
        "--database_path", str(matched.database), "--image_path", str(matched.images_dir),
        "--output_path", str(out), "--Mapper.ba_refine_focal_length", "0",
        "--Mapper.ba_refine_principal_point", "0", "--Mapper.ba_refine_extra_params", "0",
        "--Mapper.num_threads", "1"], work_dir, check=False)
    packaged = pycolmap.Reconstruction(str(matched.sparse_dir))
    truth = {image.name: np.asarray(image.projection_center()) for image in packaged.images.values()}
    # The turntable axis is the subject frame's z axis: the rig radius is the centres' distance from it.
    radius = float(np.mean([np.hypot(c[0], c[1]) for c in truth.values()]))
    models = [pycolmap.Reconstruction(str(d)) for d in sorted(out.iterdir()) if (d / "images.bin").is_file()]
    sizes = sorted((m.num_reg_images() for m in models), reverse=True)
    note = "" if models else f"mapper made no model: {_tail(work_dir / 'mapper.log')}"
    errors: dict[str, float] = {}
    registered: set[str] = set()
    if models:
        largest = max(models, key=lambda m: m.num_reg_images())
        found = {largest.image(i).name: np.asarray(largest.image(i).projection_center())
                 for i in largest.reg_image_ids()}
        registered = set(found) & set(truth)
        names = sorted(registered)
        if len(names) >= 3:
            scale, rotation, translation = similarity(np.array([found[n] for n in names]),
                                                      np.array([truth[n] for n in names]))
            for name in names:
                aligned = scale * rotation @ found[name] + translation
                errors[name] = float(np.linalg.norm(aligned - truth[name]))
        else:
            note = f"only {len(names)} images registered: too few to align"
    return PoseFreeReport(matched.camera_model, len(truth), sizes, sorted(set(truth) - registered), radius,
                          errors, costs, note)


def similarity(source: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares ``target ~ s R source + t`` (Umeyama 1991) for two (N, 3) arrays of matching points."""
    mu_s, mu_t = source.mean(axis=0), target.mean(axis=0)
    s_c, t_c = source - mu_s, target - mu_t
    u, d, vt = np.linalg.svd(t_c.T @ s_c / len(source))
    sign = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rotation = u @ sign @ vt
    scale = float(np.trace(np.diag(d) @ sign) / np.mean(np.sum(s_c**2, axis=1)))
    return scale, rotation, mu_t - scale * rotation @ mu_s


def _same_pixels(one: Path, other: Path) -> bool:
    """Whether two image files hold the same pixels: the same bytes, or the same decoded image."""
    if one.read_bytes() == other.read_bytes():
        return True
    first, second = cv2.imread(str(one), cv2.IMREAD_UNCHANGED), cv2.imread(str(other), cv2.IMREAD_UNCHANGED)
    return first is not None and second is not None and first.shape == second.shape and bool((first == second).all())


def _empty_dir(path: Path) -> Path:
    """``path`` as a new empty folder (what an earlier run left there is removed)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"  # COLMAP links Qt; no display here
    env["OMP_NUM_THREADS"] = str(THREADS)
    return env


def _run(colmap: str, command: str, args: list[str], work_dir: Path, check: bool = True) -> Cost:
    """Run ``colmap command args``, keep its output in ``work_dir/command.log``; what it cost."""
    log = work_dir / f"{command}.log"
    cpu_before = _children_cpu_s()
    start = time.perf_counter()
    try:
        result = subprocess.run([colmap, command, *args], env=_env(), capture_output=True, text=True,
                                timeout=STEP_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as error:
        raise ColmapError(f"colmap {command} ran over {STEP_TIMEOUT_S:.0f} s") from error
    cost = Cost(time.perf_counter() - start, _children_cpu_s() - cpu_before)
    log.write_text(result.stdout + result.stderr, encoding="utf-8")
    if check and result.returncode != 0:
        raise ColmapError(f"colmap {command} exited {result.returncode} ({log}): {_tail(log)}")
    return cost


def _children_cpu_s() -> float:
    """CPU seconds of every finished child process so far (subprocess.run waits for its child)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _tail(log: Path, lines: int = 6) -> str:
    text = log.read_text(encoding="utf-8", errors="replace").strip().splitlines() if log.is_file() else []
    return " | ".join(line.strip() for line in text[-lines:])


def _require_features(database: Path, model: pycolmap.Reconstruction) -> None:
    with closing(sqlite3.connect(database)) as connection:
        have = {row[0] for row in connection.execute("SELECT image_id FROM keypoints WHERE rows > 0")}
    missing = sorted(image.name for image_id, image in model.images.items() if image_id not in have)
    if missing:
        raise ColmapError(f"no features for {len(missing)} images (e.g. {missing[0]}): is each image the size "
                          f"of its packaged camera? (feature_extractor.log in {database.parent})")


def _require_same_cameras(packaged: pycolmap.Reconstruction, result: pycolmap.Reconstruction) -> None:
    """The triangulated model must still hold the packaged poses and intrinsics (nothing refined them)."""
    for image in packaged.images.values():
        other = result.find_image_with_name(image.name)
        if other is None:
            raise ColmapError(f"point_triangulator dropped {image.name}")
        moved = np.abs(other.cam_from_world().matrix() - image.cam_from_world().matrix()).max()
        refit = np.abs(np.asarray(result.cameras[other.camera_id].params)
                       - np.asarray(packaged.cameras[image.camera_id].params)).max()
        if moved > 1e-6 or refit > 1e-6:
            raise ColmapError(f"point_triangulator changed {image.name}'s pose ({moved:.2g}) or intrinsics "
                              f"({refit:.2g}): the check must hold the packaged geometry fixed")


def _reprojection_errors(reconstruction: pycolmap.Reconstruction) -> np.ndarray:
    """Every observation's distance (px) from its 3-D point's projection, computed here, not COLMAP's cache."""
    errors = []
    points = reconstruction.points3D
    for image in reconstruction.images.values():
        observed = [(p.xy, points[p.point3D_id].xyz) for p in image.points2D if p.has_point3D()]
        if not observed:
            continue
        xy = np.array([o[0] for o in observed])
        world = np.array([o[1] for o in observed])
        pose = image.cam_from_world().matrix()
        in_camera = world @ pose[:, :3].T + pose[:, 3]
        camera = reconstruction.cameras[image.camera_id]
        errors.append(np.linalg.norm(camera.img_from_cam(in_camera) - xy, axis=1))
    return np.concatenate(errors) if errors else np.zeros(0)


def _verified_pairs(database: Path) -> list[tuple[int, int, np.ndarray]]:
    """(image id 1, image id 2, inlier matches (N, 2)) of every pair COLMAP verified with enough inliers."""
    with closing(sqlite3.connect(database)) as connection:
        rows = connection.execute("SELECT pair_id, rows, cols, data FROM two_view_geometries WHERE rows >= ?",
                                  (MIN_NUM_MATCHES,)).fetchall()
    pairs = []
    for pair_id, n, cols, data in rows:
        id2 = pair_id % _MAX_NUM_IMAGES
        pairs.append(((pair_id - id2) // _MAX_NUM_IMAGES, id2,
                      np.frombuffer(data, dtype=np.uint32).reshape(n, cols)))
    return pairs


def _pair_epipolar_medians(database: Path, packaged: pycolmap.Reconstruction) -> np.ndarray:
    """Per verified pair, the median symmetric epipolar distance (px) of its inliers under the packaged
    cameras: about the feature noise where package and images agree, far more for a pair matched wrongly
    (a repeating texture) or a wrong pose."""
    with closing(sqlite3.connect(database)) as connection:
        names = dict(connection.execute("SELECT image_id, name FROM images").fetchall())
        keypoints = {image_id: np.frombuffer(data, dtype=np.float32).reshape(n, cols)[:, :2].astype(np.float64)
                     for image_id, n, cols, data in connection.execute("SELECT image_id, rows, cols, data "
                                                                        "FROM keypoints WHERE rows > 0")}
    medians = []
    for id1, id2, inliers in _verified_pairs(database):
        image1, image2 = packaged.find_image_with_name(names[id1]), packaged.find_image_with_name(names[id2])
        pose1, pose2 = image1.cam_from_world().matrix(), image2.cam_from_world().matrix()
        rotation = pose2[:, :3] @ pose1[:, :3].T
        translation = pose2[:, 3] - rotation @ pose1[:, 3]
        essential = _skew(translation) @ rotation
        camera1, camera2 = packaged.cameras[image1.camera_id], packaged.cameras[image2.camera_id]
        x1 = _homogeneous(camera1.cam_from_img(keypoints[id1][inliers[:, 0]]))
        x2 = _homogeneous(camera2.cam_from_img(keypoints[id2][inliers[:, 1]]))
        line2, line1 = x1 @ essential.T, x2 @ essential
        residual = np.abs(np.sum(x2 * line2, axis=1))
        d2 = residual / np.hypot(line2[:, 0], line2[:, 1]) * camera2.mean_focal_length()
        d1 = residual / np.hypot(line1[:, 0], line1[:, 1]) * camera1.mean_focal_length()
        medians.append(float(np.median((d1 + d2) / 2)))
    return np.array(medians)


def _skew(v: np.ndarray) -> np.ndarray:
    return np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])


def _homogeneous(points: np.ndarray) -> np.ndarray:
    return np.hstack([points, np.ones((len(points), 1))])


def _timing(costs: dict[str, Cost]) -> str:
    return "time " + ", ".join(f"{step} {cost}" for step, cost in costs.items())
