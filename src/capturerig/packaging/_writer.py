"""Write a training package: a BagIt 1.0 bag whose ``data/`` folder is the training root.

``data/`` holds ``calibration/`` (geometry.json, colour.json when given, the rig as a COLMAP model with
rigs and frames), ``lighting/`` (fixtures, states, each image's lighting), ``package.json`` (everything
about every image), ``qc.json`` (each image's per-image checks at capture, when it was checked) and one
folder per pose x lighting state under ``snapshots/``, each a training root of its own: ``transforms.json``
(nerfstudio), ``images/``, ``colmap/sparse/0`` (OPENCV), ``undistorted/{images,sparse/0}`` (PINHOLE, for
3DGS), ``xmp/`` sidecars and, when there are masks, ``masks/`` (nerfstudio), ``colmap/masks/`` and
``undistorted/masks/`` (COLMAP-named) and on request ``rgba/`` (3DGS); the clean plates the masks were made from
go to ``data/plates/<camera>/`` (originals, never training images). The bag is assembled in a hidden sibling
directory and renamed into place only when complete and fsynced, so a crash leaves either no package or a
whole one (plus a ``.<name>.partial-*`` directory that is obviously not a package, or a ``.<name>.failed-*``
one if it came while a failed run's was being removed).

Frames are placed by a thread pool, or with a Dask client by one task each on its cluster (``_dask``);
everything else is written here either way.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from capturerig.config import RigConfig
from capturerig.files import fsync_dir, fsync_file
from capturerig.packaging._bagit import manifest_name, write_tag_files
from capturerig.packaging._colmap import ModelImage, build_model, colmap_camera, colmap_model_name
from capturerig.packaging._files import Digests, digest_file, json_bytes, write_bytes
from capturerig.packaging._frames import PackageFrame, PackageSummary, PlannedTake, validate_frames
from capturerig.packaging._geometry import PIXEL_CENTRE_OFFSET, Geometry, nominal_geometry
from capturerig.packaging._jsonable import jsonable
from capturerig.packaging._lighting import fixtures_document, olat_index, states_document
from capturerig.packaging._nerfstudio import transforms_document
from capturerig.packaging._signing import (
    PACKAGE_CLAIM,
    UNSIGNED_NOTE,
    FrameSigner,
    PackageSigning,
    sign_package_claim,
)
from capturerig.packaging._snapshot import (
    MASKS_DIR,
    PLATES_DIR,
    RGBA_DIR,
    SNAPSHOTS_DIR,
    ColourCorrection,
    FramePlacer,
    PlacedFrame,
)
from capturerig.packaging._undistort import RASTER_EXTENSIONS, Undistorter
from capturerig.packaging._xmp import xmp_packet

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["ORIGINALS_CHOICES", "PACKAGE_SCHEMA", "QC_JSON", "QC_SCHEMA", "write_package"]

PACKAGE_SCHEMA = "capturerig.package/2"
ORIGINALS_CHOICES = ("keep", "reference", "drop")
# data/qc.json: the per-image checks of every frame (beside package.json, whose frames carry the verdict)
QC_JSON = "qc.json"
QC_SCHEMA = "capturerig.qc/1"
_RESERVED = {"package.json", QC_JSON, "calibration", "lighting", SNAPSHOTS_DIR, "originals", PLATES_DIR}
Progress = Callable[[int, int], None]

_CONVENTIONS = {
    "world": (
        "subject frame: metres, z up, origin at the turntable centre on the floor; at station angle a the "
        "turntable has rotated the subject about +z by a, so subject point p is at rig point Rz(a) p "
        "(stations without a turntable angle use the rig frame unchanged)"
    ),
    "colmap": (
        "colmap/sparse/0: cam_from_world with x_cam = R x_world + t, OpenCV camera axes (x right, y down, "
        "z forward); cameras OPENCV (FULL_OPENCV when k3 != 0); one rig of all cameras (the first is the "
        "reference sensor) and one frame per station; undistorted/sparse/0 holds PINHOLE cameras only"
    ),
    "nerfstudio": (
        "transforms.json: camera_model OPENCV with per-frame intrinsics; transform_matrix is camera-to-world "
        "with OpenGL/Blender camera axes (x right, y up, z backwards)"
    ),
    "pixels": (
        "COLMAP and transforms.json put the centre of the top-left pixel at (0.5, 0.5); their cx, cy are the "
        f"OpenCV values + {PIXEL_CENTRE_OFFSET} (calibration/geometry.json keeps the OpenCV values)"
    ),
    "calibration/colmap": (
        "the rig as COLMAP sees it: one camera per rig camera, one rig, one frame per station; its image "
        "names <camera>_<station> stand for that camera's view at that station in every snapshot"
    ),
}


def _check_extra_payload(extra: Mapping[str, bytes]) -> None:
    for name, content in extra.items():
        path = PurePosixPath(name)
        if (path.is_absolute() or not path.parts or any(part in ("", ".", "..") for part in path.parts)
                or "\\" in name or any(c in name for c in "\r\n")):
            raise ValueError(f"extra payload '{name}': must be a relative path inside data/ without '..'")
        if path.parts[0] in _RESERVED:
            raise ValueError(f"extra payload '{name}': data/{path.parts[0]} is written by the package itself")
        if not isinstance(content, bytes):
            raise ValueError(f"extra payload '{name}': content must be bytes, got {type(content).__name__}")


def _check_masks(frames: Sequence[PackageFrame]) -> None:
    """nerfstudio takes masks for every image of a transforms.json or for none, so a snapshot must too."""
    with_mask: dict[str, set[bool]] = {}
    for frame in frames:
        if Path(frame.name).suffix.lower() in RASTER_EXTENSIONS:  # RAW files go to raw/, never into transforms
            with_mask.setdefault(frame.snapshot_id, set()).add(frame.mask is not None)
    mixed = sorted(snapshot for snapshot, kinds in with_mask.items() if len(kinds) > 1)
    if mixed:
        raise ValueError(f"snapshot {', '.join(mixed)}: some frames have a mask and some do not; give every "
                         "frame of a snapshot a mask, or none")


def _masks_document(frames: Sequence[PackageFrame], made: Mapping[str, Any] | None, rgba: bool,
                    undistort: bool) -> dict[str, Any]:
    """package.json's ``masks``: whether there are masks, how they were made, and where each trainer finds them."""
    if not any(frame.mask is not None for frame in frames):
        return {"present": False, **(made or {})}
    where = "undistorted/" if undistort else ""
    return {
        "present": True, **(made or {}),
        "nerfstudio": f"snapshots/<snapshot>/{MASKS_DIR}/<image stem>.png, each frame's mask_path in transforms.json "
                      "(relative to it): single-channel 8-bit PNG, the image's size, 255 = subject, 0 = ignore",
        "colmap": f"snapshots/<snapshot>/colmap/{MASKS_DIR}/<image name>.png, for colmap/sparse/0 "
                  f"(feature_extractor --ImageReader.mask_path colmap/{MASKS_DIR}: no features where 0)",
        "undistorted": f"snapshots/<snapshot>/undistorted/{MASKS_DIR}/<image name>.png, warped with the undistorted "
                       "images' own maps, for undistorted/sparse/0 (COLMAP's image_undistorter does not undistort "
                       "masks)" if undistort else None,
        "rgba": f"snapshots/<snapshot>/{where}{RGBA_DIR}/images/<image stem>.png: 8-bit RGBA PNG, the image with "
                "its mask as alpha and colour 0 where alpha is 0 (3DGS reads alpha as its mask), with "
                f"{where}{RGBA_DIR}/sparse/0 naming them: a 3DGS source folder (train.py -s .../{where}{RGBA_DIR})"
                if rgba else None,
    }


class _Counter:
    """Thread-safe byte counter that reports progress as (done, total)."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.done, self.total, self.progress = 0, total, progress
        self._lock = threading.Lock()

    def __call__(self, count: int) -> None:
        if self.progress is None:
            return
        with self._lock:
            self.done += count
            done = self.done
        self.progress(done, self.total)


def _write_model(root: Path, directory: str, model: Any, files: dict[str, Digests]) -> None:
    target = root / directory
    target.mkdir(parents=True, exist_ok=True)
    model.write(str(target))
    for path in sorted(target.iterdir()):
        fsync_file(path)  # pycolmap writes without fsync
        files[f"{directory}/{path.name}"] = digest_file(path)


def _write_json(root: Path, relative: str, document: Any, files: dict[str, Digests]) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    files[relative] = write_bytes(path, json_bytes(document))


def _camera_entries(rig: RigConfig, geometry: Geometry, camera_ids: Mapping[str, int]) -> dict[str, Any]:
    return {camera_id: {"colmap_camera_id": colmap_id, "serial": rig.camera(camera_id).serial,
                        "body": rig.camera(camera_id).body, "group": rig.camera(camera_id).group,
                        "colmap_model": colmap_model_name(float(geometry.cameras[camera_id].dist[4])),
                        "rig_position": list(rig.camera(camera_id).pose.position)}
            for camera_id, colmap_id in camera_ids.items()}


def _frame_entry(rig: RigConfig, frame: PackageFrame, placed: PlacedFrame) -> dict[str, Any]:
    return {"name": frame.name, "snapshot": frame.snapshot_id, **placed.entry, "camera_id": frame.camera_id,
            "take_id": frame.plan_take_id, "pose_id": frame.pose_id, "station_id": frame.station_id,
            "light_id": frame.light_id, "bracket_id": frame.bracket_id,
            "station_angle_deg": frame.station_angle_deg, "sha256": frame.sha256.lower(),
            "source": Path(frame.source).name, "exposed_at": frame.exposed_at, "stored_at": frame.stored_at,
            "exposure": dict(frame.exposure), "olat_index": olat_index(rig, frame.lighting),
            "qc": None if frame.qc is None else {"verdict": frame.qc.get("verdict"),
                                                 "reasons": list(frame.qc.get("reasons", []))}}


def _qc_document(frames: Sequence[PackageFrame], metadata: Mapping[str, Any]) -> dict[str, Any]:
    """``data/qc.json``: every packaged frame's checks as they were when it was captured."""
    entries = [{"name": f.name, "camera_id": f.camera_id, "take_id": f.plan_take_id, "role": f.role,
                "verdict": f.qc.get("verdict") if f.qc is not None else "unchecked",
                **({k: v for k, v in f.qc.items() if k != "verdict"} if f.qc is not None else {})} for f in frames]
    summary = {verdict: sum(1 for e in entries if e["verdict"] == verdict)
               for verdict in ("ok", "warn", "fail", "unchecked")}
    return {"schema": QC_SCHEMA, "session_id": metadata.get("session_id"), "summary": summary, "frames": entries}


class _Build:
    """One package being assembled in ``root`` (the partial directory)."""

    def __init__(self, rig: RigConfig, frames: Sequence[PackageFrame], plates: Sequence[PackageFrame], root: Path,
                 geometry: Geometry) -> None:
        self.rig, self.frames, self.plates, self.root, self.geometry = rig, frames, plates, root, geometry
        self.placing = [*frames, *plates]  # placed alike; plates then go to package.json's plates, not snapshots
        used = {frame.camera_id for frame in self.placing}
        self.camera_ids = {c.id: index + 1 for index, c in enumerate(rig.cameras) if c.id in used}
        self.files: dict[str, Digests] = {}

    def place_frames(self, placer: FramePlacer, workers: int) -> list[PlacedFrame]:
        # Grouped by camera, so the undistorter's per-camera remap tables are reused while cached.
        order = sorted(range(len(self.placing)), key=lambda i: (self.placing[i].camera_id, i))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(lambda i: placer.place(self.placing[i]), order))
        placed: list[PlacedFrame | None] = [None] * len(self.placing)
        for index, result in zip(order, results, strict=True):
            placed[index] = result
        return self.record([p for p in placed if p is not None])

    def record(self, placed: list[PlacedFrame]) -> list[PlacedFrame]:
        """Take the files of placed frames (in ``placing``'s order) into the bag's manifests."""
        for result in placed:
            self.files.update(result.files)
        return placed

    def snapshot_models(self, entries: list[dict[str, Any]], undistorter: Undistorter | None) -> dict[str, Any]:
        snapshots: dict[str, list[tuple[PackageFrame, dict[str, Any]]]] = {}
        for frame, entry in zip(self.frames, entries, strict=True):
            snapshots.setdefault(frame.snapshot_id, []).append((frame, entry))
        summary = {}
        for snapshot_id, members in snapshots.items():
            base = f"data/{SNAPSHOTS_DIR}/{snapshot_id}"
            rasters = [(f, e) for f, e in members if "/images/" in e["file_path"]]
            images = [ModelImage(f.name, f.camera_id, f.station_id, f.station_angle_deg) for f, _ in rasters]
            for image_id, (_, entry) in enumerate(rasters, start=1):
                entry["colmap_image_id"] = image_id
            summary[snapshot_id] = {"path": base.removeprefix("data/"), "pose_id": members[0][0].pose_id,
                                    "light_id": members[0][0].light_id, "bracket_id": members[0][0].bracket_id,
                                    "images": len(rasters), "undistorted": undistorter is not None and bool(rasters)}
            if not rasters:
                continue
            self._model(f"{base}/colmap/sparse/0", images, None)
            if undistorter is not None:
                self._model(f"{base}/undistorted/sparse/0", images, undistorter)
            with_alpha = [(f, e) for f, e in rasters if e.get("rgba_path")]
            if with_alpha:  # the RGBA folder is a 3DGS source of its own: its model names its PNGs
                rgba_dir = f"{base}/{'undistorted/' if undistorter is not None else ''}{RGBA_DIR}"
                self._model(f"{rgba_dir}/sparse/0", [ModelImage(Path(e["rgba_path"]).name, f.camera_id, f.station_id,
                                                                f.station_angle_deg) for f, e in with_alpha],
                            undistorter)
            inside = f"{base.removeprefix('data/')}/"  # package.json paths are data-relative, transforms' local
            documents = [{"file_path": e["file_path"].removeprefix(inside),
                          "mask_path": e.get("mask_path", "").removeprefix(inside),
                          "camera_id": f.camera_id, "station_angle_deg": f.station_angle_deg,
                          "pose_id": f.pose_id, "station_id": f.station_id, "light_id": f.light_id,
                          "bracket_id": f.bracket_id} for f, e in rasters]
            _write_json(self.root, f"{base}/transforms.json", transforms_document(self.geometry, documents),
                        self.files)
        return summary

    def _model(self, directory: str, images: list[ModelImage], undistorter: Undistorter | None) -> None:
        def distorted(camera_id: str, colmap_id: int) -> Any:
            return colmap_camera(self.geometry.cameras[camera_id], colmap_id)

        camera = undistorter.camera if undistorter is not None else distorted
        _write_model(self.root, directory, build_model(self.geometry, self.camera_ids, images, camera), self.files)

    def calibration(self, colour: ColourCorrection | None) -> None:
        _write_json(self.root, "data/calibration/geometry.json", jsonable(self.geometry.document, "geometry"),
                    self.files)
        if colour is not None:
            path = self.root / "data/calibration/colour.json"
            self.files["data/calibration/colour.json"] = write_bytes(path, colour.document)
        stations: dict[str, float | None] = {}
        for frame in self.frames:
            stations.setdefault(frame.station_id, frame.station_angle_deg)
        images = [ModelImage(f"{camera_id}_{station_id}", camera_id, station_id, angle)
                  for station_id, angle in stations.items() for camera_id in self.camera_ids]
        self._model("data/calibration/colmap", images, None)

    def lighting(self) -> None:
        _write_json(self.root, "data/lighting/fixtures.json", fixtures_document(self.rig), self.files)
        states: dict[str, Any] = {}
        for frame in self.frames:
            states.setdefault(frame.light_id, jsonable(frame.lighting, f"frame '{frame.name}' lighting"))
        _write_json(self.root, "data/lighting/states.json", states_document(self.rig, list(states.values())),
                    self.files)


def write_package(
    rig: RigConfig,
    frames: Sequence[PackageFrame],
    out_dir: Path,
    metadata: Mapping[str, Any],
    *,
    geometry: Geometry | None = None,
    colour: ColourCorrection | None = None,
    originals: str = "keep",
    planned: Sequence[PlannedTake] | None = None,
    extra_payload: Mapping[str, bytes] | None = None,
    xmp_fields: Mapping[str, str] | None = None,
    undistort: bool = True,
    workers: int | None = None,
    progress: Progress | None = None,
    client: Client | None = None,
    masks: Mapping[str, Any] | None = None,
    rgba: bool = False,
    signing: PackageSigning | None = None,
    unsigned_why: str = "",
) -> PackageSummary:
    """Write a training package (a BagIt 1.0 bag) of verified frames.

    Parameters
    ----------
    rig : RigConfig
        The rig the frames were shot with.
    frames : Sequence[PackageFrame]
        One verified image each; written in this order (COLMAP image ids are 1-based positions within
        each snapshot). Frames of role ``plate`` (clean plates) are kept under ``data/plates/`` and listed in
        package.json's ``plates``, never in a snapshot.
    out_dir : Path
        The bag to create; must not exist yet. Its parent is created if needed.
    metadata : Mapping[str, Any]
        Session id (``session_id`` becomes the bag's External-Identifier), subject, rig and plan names,
        capturerig version...; stored in ``data/package.json``.
    geometry : Geometry, optional
        A calibration (see :func:`geometry_from_document`); default: the rig's nominal values, and
        ``package.json`` says so.
    colour : ColourCorrection, optional
        Applied per camera to every raster image.
    originals : {"keep", "reference", "drop"}
        With colour correction: keep the captured files in ``data/originals/``, only reference them
        (session file name and sha256 in ``package.json``), or drop them.
    planned : Sequence[PlannedTake], optional
        The takes the plan requires, recorded so ``verify`` can check completeness; default: the takes
        of ``frames``.
    extra_payload : Mapping[str, bytes], optional
        More files for the bag, by path under ``data/`` (e.g. ``provenance/consent.json``).
    xmp_fields : Mapping[str, str], optional
        ``"prefix:Name" -> value`` merged into every image's XMP sidecar (model release ...).
    undistort : bool
        Write ``undistorted/`` (PINHOLE images and model) in every snapshot.
    workers : int, optional
        Frames placed at once (default: the number of CPUs); not used with ``client``.
    progress : callable, optional
        ``(bytes done, bytes total)`` of the source images, called from worker threads (with ``client``:
        from this thread, a frame's source bytes at a time as each frame is placed).
    client : distributed.Client, optional
        Place each frame by one task on this client's cluster (its workers must see ``out_dir`` and the
        sources at the same paths); default: a thread pool in this process.
    masks : Mapping, optional
        How the frames' masks were made (method, plates, whether a visual hull mended them ...), stored in
        package.json's ``masks`` with where each trainer finds them.
    rgba : bool
        Also write every masked image as an RGBA PNG for 3DGS (needs masks).
    signing : PackageSigning, optional
        Sign every image placed (originals, renditions, RGBA; not masks) with the identity in its folder, before
        it is hashed into the manifests, and the bag's tag files by a package claim (``_signing``); the caller
        has checked the identity (:func:`~capturerig.packaging.resolve_signing`). None: unsigned, and
        package.json says so with ``unsigned_why``.

    Returns
    -------
    PackageSummary

    Raises
    ------
    ValueError
        Bad frames, geometry missing a camera, metadata that cannot be stored in JSON, a bad XMP field or
        extra payload path; nothing is written.
    PackageIntegrityError
        A source file no longer matches its recorded sha256; nothing is left behind.
    FileExistsError
        ``out_dir`` already exists.
    """
    out_dir = Path(out_dir)
    validate_frames(rig, frames)
    jsonable(metadata, "metadata")  # fail before touching the disk
    for frame in frames:
        jsonable(frame.lighting, f"frame '{frame.name}' lighting")
    if originals not in ORIGINALS_CHOICES:
        raise ValueError(f"originals must be one of {', '.join(ORIGINALS_CHOICES)}, got '{originals}'")
    geometry = geometry or nominal_geometry(rig)
    missing = sorted({f.camera_id for f in frames} - set(geometry.cameras))
    if missing:
        raise ValueError(f"geometry has no camera {', '.join(missing)}")
    plates = [frame for frame in frames if frame.role == "plate"]
    frames = [frame for frame in frames if frame.role != "plate"]
    if not frames:
        raise ValueError(f"nothing to package: the {len(plates)} frames given are all clean plates")
    _check_masks(frames)
    if rgba and not any(frame.mask is not None for frame in frames):
        raise ValueError("rgba: RGBA images need masks, and no frame has one")
    jsonable(masks or {}, "masks")
    extra = dict(extra_payload or {})
    _check_extra_payload(extra)
    xmp_packet(dict(xmp_fields or {}))  # unknown prefixes fail here
    if out_dir.exists():
        raise FileExistsError(f"{out_dir} already exists; packages are never overwritten")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # A sibling, so the final rename stays on one filesystem and is atomic; os.mkdir honours the umask
    # (tempfile.mkdtemp would leave a 0700 package behind).
    partial = out_dir.parent / f".{out_dir.name}.partial-{uuid.uuid4().hex[:12]}"
    os.mkdir(partial)
    try:
        build = _Build(rig, frames, plates, partial, geometry)
        _fill(build, metadata, colour, originals, planned, extra, xmp_fields or {}, undistort,
              workers or os.cpu_count() or 1, progress, client, _masks_document(frames, masks, rgba, undistort), rgba,
              (signing, unsigned_why))
        for directory, _, _ in sorted(os.walk(partial), key=lambda item: -len(item[0])):
            fsync_dir(Path(directory))  # deepest first: the rename may only publish names that are on disk
        os.rename(partial, out_dir)
    except BaseException as error:
        # Renamed first: a frame a Dask worker is still placing can then no longer add files to what is being
        # removed (the placer never recreates the partial directory).
        failed = partial.with_name(partial.name.replace(".partial-", ".failed-", 1))
        try:
            os.rename(partial, failed)
            shutil.rmtree(failed)
        except OSError as exc:
            error.add_note(f"could not remove the partial package {partial}: {exc}")
        raise
    fsync_dir(out_dir.parent)
    payload = [d.size for d in build.files.values()]
    tags = sum((out_dir / name).stat().st_size for name in os.listdir(out_dir) if (out_dir / name).is_file())
    return PackageSummary(
        out_dir=out_dir, data_dir=out_dir / "data",
        snapshots=tuple(out_dir / "data" / SNAPSHOTS_DIR / s for s in dict.fromkeys(f.snapshot_id for f in frames)),
        num_images=len(frames), num_cameras=len(build.camera_ids), geometry_source=geometry.source,
        colour_applied=colour is not None, manifest_path=out_dir / manifest_name("sha256"),
        total_bytes=sum(payload) + tags, geometry_id=geometry.calibration_id, geometry_rms_px=geometry.rms_px)


def _fill(build: _Build, metadata: Mapping[str, Any], colour: ColourCorrection | None, originals: str,
          planned: Sequence[PlannedTake] | None, extra: Mapping[str, bytes], xmp_fields: Mapping[str, str],
          undistort: bool, workers: int, progress: Progress | None, client: Client | None,
          masks: Mapping[str, Any], rgba: bool, signed: tuple[PackageSigning | None, str]) -> None:
    frames, rig, root = build.frames, build.rig, build.root
    signing, unsigned_why = signed
    undistorter = Undistorter(build.geometry, build.camera_ids, 2 * workers) if undistort else None
    counter = _Counter(sum(Path(f.source).stat().st_size for f in build.placing), progress)
    created = datetime.now(UTC).isoformat(timespec="seconds")
    if client is None:
        placer = FramePlacer(root, rig, build.geometry, undistorter, colour, originals, xmp_fields, counter,
                             created=created, rgba=rgba, signer=None if signing is None else FrameSigner(signing))
        try:
            placed = build.place_frames(placer, workers)
        finally:
            placer.close()
    else:
        from capturerig.packaging._dask import PlacerSpec, place_frames_on_cluster  # imports distributed

        spec = PlacerSpec(str(root), rig, build.geometry, dict(build.camera_ids), undistort, colour, originals,
                          dict(xmp_fields), created, rgba, signing)
        placed = build.record(place_frames_on_cluster(client, build.placing, spec, counter))
    entries = [_frame_entry(rig, frame, p) for frame, p in zip(frames, placed[:len(frames)], strict=True)]
    plate_entries = [_frame_entry(rig, frame, p) for frame, p in zip(build.plates, placed[len(frames):], strict=True)]
    snapshots = build.snapshot_models(entries, undistorter)
    build.calibration(colour)
    build.lighting()
    for name, content in extra.items():
        path = root / "data" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        build.files[f"data/{name}"] = write_bytes(path, content)
    takes = planned or [PlannedTake(t, tuple(dict.fromkeys(f.camera_id for f in frames if f.plan_take_id == t)), 1)
                        for t in dict.fromkeys(f.plan_take_id for f in frames)]
    document = {
        "schema": PACKAGE_SCHEMA, "metadata": jsonable(metadata, "metadata"), "conventions": _CONVENTIONS,
        "rig": rig.name,
        "geometry": {"source": build.geometry.source, "file": "calibration/geometry.json",
                     "note": "nominal rig values: no geometry calibration was given"
                     if build.geometry.source == "nominal" else "calibrated",
                     "passed": build.geometry.document.get("passed"), "id": build.geometry.calibration_id,
                     "rms_px": build.geometry.rms_px},
        "colour": {"applied": colour is not None, "file": "calibration/colour.json" if colour else None,
                   "originals": originals if colour else None},
        "calibration": {"colmap": "calibration/colmap"},
        "cameras": _camera_entries(rig, build.geometry, build.camera_ids),
        "snapshots": snapshots,
        "planned": [{"take_id": t.take_id, "cameras": list(t.cameras), "min_cameras": t.min_cameras} for t in takes],
        "masks": masks,
        "provenance": _provenance_document(signing, unsigned_why),
        "frames": entries,
        "plates": plate_entries,
    }
    _write_json(root, "data/package.json", jsonable(document, "package.json"), build.files)
    if any(frame.qc is not None for frame in frames):
        _write_json(root, f"data/{QC_JSON}", jsonable(_qc_document(frames, metadata), QC_JSON), build.files)
    _write_json(root, "data/lighting/images.json", {"images": [
        {"name": e["name"], "file_path": e["file_path"], "snapshot": e["snapshot"], "light_id": e["light_id"],
         "olat_index": e["olat_index"], "levels": jsonable(f.lighting.get("levels", {}), "levels"),
         "polarisation": f.lighting.get("polarisation", "none"), "bracket_id": e["bracket_id"],
         "exposure": e["exposure"]} for f, e in zip(frames, entries, strict=True)]}, build.files)
    info = [("Bag-Software-Agent", f"capturerig {metadata.get('capturerig_version', '')}".strip()),
            ("Bagging-Date", datetime.now(UTC).date().isoformat()),
            ("External-Identifier", str(metadata.get("session_id", root.name))),
            ("Capturerig-Package-Schema", PACKAGE_SCHEMA),
            ("Internal-Sender-Description",
             f"training package of session {metadata.get('session_id', '?')}: {len(frames)} images in "
             f"{len(snapshots)} snapshots; geometry {build.geometry.source}")]
    write_tag_files(root, build.files, info, None if signing is None
                    else lambda tags: sign_package_claim(root, signing, tags))


def _provenance_document(signing: PackageSigning | None, unsigned_why: str) -> dict[str, Any]:
    """package.json's ``provenance``: signed or not (and why), and what a signature covers."""
    if signing is None:
        return {"signed": False, "why": unsigned_why or "no signing identity was given"}
    identity = FrameSigner(signing).identity  # public parts only: the key is read to sign, never here
    return {
        "signed": True, "standard": "C2PA (Content Credentials), manifests embedded in the images",
        "signer": identity.certificate.subject.rfc4514_string(), "issuer": identity.certificate.issuer.rfc4514_string(),
        "certificate_sha256": identity.fingerprint, "test_identity": identity.kind == "test",
        "valid_until": identity.certificate.not_valid_after_utc.isoformat(),
        "images": "every frame's signed_paths: images/, undistorted/images/, linear/, rgba/images/, originals/, raw/ "
                  "and plates/; an original carries c2pa.created (digitalCapture), a rendition its edits with the "
                  "original as parentOf ingredient; org.capturerig.consent carries the consent record's hash and "
                  "scope, cawg.training-mining what the consent allows",
        "unsigned": UNSIGNED_NOTE,
        "package_claim": f"{PACKAGE_CLAIM} beside bagit.txt (sha256 of bagit.txt, bag-info.txt and both payload "
                         f"manifests), its C2PA manifest store in {PACKAGE_CLAIM}.c2pa",
    }
