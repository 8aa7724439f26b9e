"""From a session's journal to a training package: only verified files, renamed to stable flat names.

The engine glues the layers a package needs: the plan (which takes and cameras were required), lighting
(each state's levels and DMX frames), calibration (geometry.json, colour.json) and subjects (consent and
lineage provenance), and hands plain data to :func:`capturerig.packaging.write_package`.

A session whose plan shot clean plates (the pose ``plate``) gets a mask per training image
(:func:`package_frames`): each image is paired with the plate of its camera, lighting state, station and bracket,
the masks of one exposure (every camera of one take) are made together by :func:`capturerig.masks.mask_exposure`
(the visual hull needs them all; with a geometry calibration only) -- one task each, in threads or on the Dask
cluster -- into a hidden folder beside the package that is removed once the bag has them.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from capturerig.calibration.colour import load_colour
from capturerig.config import PLATE_POSE_ID, ConfigError, RigConfig, load_body_profile
from capturerig.engine._firing import bracket_shutter
from capturerig.engine._journal import TakeStatus
from capturerig.engine._session import SessionFolder
from capturerig.engine._version import capturerig_version
from capturerig.lighting import frames_for_condition
from capturerig.masks import ExposureJob, ExposureMasks, MaskError, hull_geometry, mask_exposure
from capturerig.packaging import (
    RASTER_EXTENSIONS,
    ColourCorrection,
    Geometry,
    PackageFrame,
    PackageSigning,
    PackageSummary,
    PlannedTake,
    geometry_from_document,
    resolve_signing,
    write_package,
)
from capturerig.plan import Take, expand_plan
from capturerig.subjects import package_provenance

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["MASKS_CHOICES", "IncompleteSession", "load_colour_correction", "load_package_geometry", "package_frames",
           "package_session"]

MASKS_CHOICES = ("auto", "on", "off")  # auto: masks when the session shot clean plates


class IncompleteSession(RuntimeError):
    """The session still has takes the journal cannot prove done; resume it before packaging."""


def load_package_geometry(path: str | Path, rig: RigConfig) -> Geometry:
    """Read a ``geometry.json`` (schema ``capturerig.geometry/1``) for ``rig``.

    Raises
    ------
    ConfigError
        Naming the file and the camera or field that does not fit the rig.
    """
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError.single(str(path), f"cannot read file: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError.single(str(path), f"not valid JSON: {exc.msg}", exc.lineno) from exc
    if not isinstance(document, dict):
        raise ConfigError.single(str(path), "must hold a JSON object")
    try:
        return geometry_from_document(document, rig, str(path))
    except ValueError as exc:
        raise ConfigError.single(str(path), str(exc).removeprefix(f"{path}: ")) from exc


def load_colour_correction(path: str | Path, camera_ids: Iterable[str]) -> ColourCorrection:
    """Read a ``colour.json`` (``capturerig calibrate colour``); corrects 8-bit BGR images per camera.

    Raises
    ------
    ConfigError
        Naming the file when it cannot be read or does not calibrate every camera in ``camera_ids``.
    """
    path = Path(path)
    try:
        calibration = load_colour(path)
    except (OSError, ValueError) as exc:
        raise ConfigError.single(str(path), str(exc).removeprefix(f"{path}: ")) from exc
    missing = sorted(set(camera_ids) - set(calibration.cameras))
    if missing:
        raise ConfigError.single(str(path), f"no colour calibration for camera {', '.join(missing)} "
                                            f"(calibrated: {', '.join(sorted(calibration.cameras))})")

    def correct(camera_id: str, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        return np.asarray(calibration.correct(camera_id, image, bits=8), dtype=np.uint8)

    def correct_raw(camera_id: str, linear16: npt.NDArray[np.uint16]) -> tuple[npt.NDArray[np.uint8],
                                                                                 npt.NDArray[np.float32]]:
        srgb8 = np.asarray(calibration.correct(camera_id, linear16, bits=8), dtype=np.uint8)
        return srgb8, np.clip(calibration.to_linear(camera_id, linear16), 0.0, 1.0)

    raw_cameras = frozenset(c for c in calibration.cameras if calibration.camera(c).source == "raw")
    return ColourCorrection(correct=correct, document=path.read_bytes(), correct_raw=correct_raw,
                            raw_cameras=raw_cameras, working_space=calibration.working_space)


def _lighting_metadata(folder: SessionFolder, takes: tuple[Take, ...]) -> dict[str, dict[str, Any]]:
    rig, base_dir = folder.rig.config, folder.rig.path.parent
    lighting = {}
    for condition in {t.lighting.state_id: t.lighting for t in takes}.values():  # generators expanded
        dmx = {f"{output}/{universe}": frame.rstrip(b"\0").hex()
               for (output, universe), frame in frames_for_condition(rig, condition, base_dir).items()}
        lighting[condition.state_id] = {
            "id": condition.state_id, "name": condition.name, "polarisation": condition.polarisation,
            "levels": {k: v.model_dump(exclude_none=True) for k, v in condition.levels.items()}, "dmx_hex": dmx}
    return lighting


def _exposure(rig: RigConfig, camera_id: str, take: Take) -> dict[str, str]:
    settings = dict(rig.camera(camera_id).settings)
    if take.bracket.ev and "shutter" in settings:
        settings["shutter"] = bracket_shutter(settings["shutter"], take.bracket.ev)
    if take.bracket.ev:
        settings["bracket_ev"] = f"{take.bracket.ev:g}"
    return settings


RAW_FORMAT = "raw"


def _frames(folder: SessionFolder, takes: tuple[Take, ...]) -> list[PackageFrame]:
    """A frame per verified file. Where a camera shot RAW in a take, its RAW file makes the trainers' image
    (a rendition) and its other files of that take are kept as companions."""
    rig, base_dir = folder.rig.config, folder.rig.path.parent
    lighting = _lighting_metadata(folder, takes)
    times = {event["path"]: (event.get("exposed_at"), event.get("at")) for event in folder.journal.events("FileStored")}
    by_id = {t.id: t for t in takes}
    verified = folder.journal.verified_files()
    checks = _file_checks(folder)
    with_raw = {(f.take_id, f.camera_id) for f in verified if f.format == RAW_FORMAT}
    frames = []
    for file in verified:
        take = by_id.get(file.take_id or "")
        if take is None or file.camera_id is None or file.format is None:
            raise RuntimeError(f"{folder.journal.path}: file {file.path} belongs to no take of the plan "
                               "snapshot; the journal does not match this session's plan.yaml")
        extension = load_body_profile(rig.camera(file.camera_id).body, base_dir).formats[file.format].extension
        role = "image"
        if take.pose.id == PLATE_POSE_ID:  # a clean plate: kept as captured, under its own extension
            role = "plate"
        elif file.format == RAW_FORMAT:
            role, extension = "raw-rendition", "png"
        elif (file.take_id, file.camera_id) in with_raw:
            role = "companion"
        snapshot = f"{take.pose.id}_{take.lighting.state_id}" + (f"_{take.bracket.id}" if take.bracketed else "")
        exposed_at, stored_at = times.get(file.path, (None, None))
        frames.append(PackageFrame(
            source=folder.path / file.path, name=take.file_name(file.camera_id, extension),
            camera_id=file.camera_id, pose_id=take.pose.id, station_id=take.station.id,
            light_id=take.lighting.state_id, bracket_id=take.bracket.id,
            station_angle_deg=take.station.angle_deg, sha256=file.sha256,
            lighting=lighting[take.lighting.state_id], snapshot=snapshot, take_id=take.id,
            exposed_at=exposed_at, stored_at=stored_at, exposure=_exposure(rig, file.camera_id, take), role=role,
            qc=checks.get(file.path)))
    return frames


def _file_checks(folder: SessionFolder) -> dict[str, dict[str, Any]]:
    """Per file (session-relative path), its checks from the journal: the ``TakeChecked`` of the attempt the take
    was verified with (a take re-shot after a failed check carries the new attempt's)."""
    records = folder.journal.takes()
    found: dict[str, dict[str, Any]] = {}
    for event in folder.journal.events("TakeChecked"):
        record = records.get(event["take_id"])
        if record is None or record.verified_attempt != event["attempt"]:
            continue
        for item in event["files"]:
            found[item["path"]] = {"verdict": item["verdict"], "attempt": event["attempt"], "action": event["action"],
                                   "reasons": item.get("reasons", []),
                                   "checks": [{k: c[k] for k in ("check", "verdict", "reason")}
                                              for c in item.get("checks", [])]}
    return found


_MAX_LISTED = 12
# Working memory of one exposure's mask task: one camera's image and plate in float32 linear light and the
# matte's arrays (~120 B/px) while every camera's matte waits for the hull (~8 B/px each).
_MASK_BYTES_PER_PIXEL = 120
_MASK_BYTES_PER_PIXEL_HELD = 8


def _wants_mask(frame: PackageFrame) -> bool:
    """A trainer's image: the captured JPEG/PNG/TIFF or a RAW file's rendition (not a companion, a plate or a RAW
    file packaged as it is)."""
    return frame.role == "raw-rendition" or (frame.role == "image"
                                             and Path(frame.name).suffix.lower() in RASTER_EXTENSIONS)


def _pair_plates(frames: Sequence[PackageFrame], plates: Sequence[PackageFrame]) -> tuple[
        dict[str, PackageFrame], list[str]]:
    """Each training image's plate by image name: its camera's, of the same lighting state, station, bracket and
    kind of file; at another station only where neither has a turntable angle or both the same one (the empty rig
    looks the same). Also the images that took such a plate.

    Raises
    ------
    MaskError
        Listing every camera without plates and every image without a plate of its lighting state (and station
        or bracket), with what its camera's plates cover.
    """
    by_camera: dict[str, list[PackageFrame]] = defaultdict(list)
    for plate in plates:
        by_camera[plate.camera_id].append(plate)
    problems: list[str] = []
    pairs: dict[str, PackageFrame] = {}
    fallbacks: list[str] = []
    for camera in sorted({frame.camera_id for frame in frames} - set(by_camera)):
        problems.append(f"camera {camera}: no clean plates in the session (plates were shot by "
                        f"{', '.join(sorted(by_camera)) or 'no camera'})")
    for frame in frames:
        own = by_camera.get(frame.camera_id)
        if not own:
            continue
        kind = Path(frame.source).suffix.lower()
        same = [p for p in own if (p.light_id, p.bracket_id, Path(p.source).suffix.lower())
                == (frame.light_id, frame.bracket_id, kind)]
        exact = [p for p in same if p.station_id == frame.station_id]
        alike = [p for p in same if p.station_angle_deg == frame.station_angle_deg]
        if exact or alike:
            pairs[frame.name] = (exact or alike)[0]
            if not exact:
                fallbacks.append(f"{frame.name}: plate {alike[0].name} (station {alike[0].station_id}, the same "
                                 "turntable angle)")
            continue
        covers = ", ".join(sorted({f"{p.light_id}@{p.station_id}/{p.bracket_id}{Path(p.source).suffix.lower()}"
                                   for p in own}))
        problems.append(f"{frame.name}: no clean plate of camera {frame.camera_id} for lighting state "
                        f"{frame.light_id} at station {frame.station_id}, bracket {frame.bracket_id} ({kind} files); "
                        f"its plates cover {covers}")
    if problems:
        more = len(problems) - _MAX_LISTED
        listed = problems[:_MAX_LISTED] + ([f"... and {more} more"] if more > 0 else [])
        raise MaskError("masks: clean plates missing:\n  " + "\n  ".join(listed))
    return pairs, fallbacks


def _mask_jobs(frames: Sequence[PackageFrame], pairs: Mapping[str, PackageFrame], folder: Path,
               geometry: Geometry | None) -> tuple[list[ExposureJob], dict[str, Path]]:
    """One job per exposure (take), each mask's path under ``folder`` by image name; the camera folders made."""
    cameras = hull_geometry(geometry) if geometry is not None else None
    by_take: dict[str, list[PackageFrame]] = defaultdict(list)
    for frame in frames:
        by_take[frame.plan_take_id].append(frame)
    outputs: dict[str, Path] = {}
    jobs = []
    for take_id, members in by_take.items():
        for frame in members:
            (folder / frame.camera_id).mkdir(exist_ok=True)
            outputs[frame.name] = folder / frame.camera_id / f"{Path(frame.name).stem}.png"
        jobs.append(ExposureJob(take_id, tuple((f.camera_id, str(f.source), str(pairs[f.name].source),
                                                str(outputs[f.name])) for f in members),
                                None if cameras is None else {f.camera_id: cameras[f.camera_id] for f in members
                                                              if f.camera_id in cameras}))
    return jobs, outputs


def _run_mask_jobs(jobs: Sequence[ExposureJob], rig: RigConfig, workers: int,
                   client: Client | None) -> list[ExposureMasks]:
    """Every job, in threads here or as one Dask task each (paths in, paths out); the first failure raised."""
    if client is None:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(mask_exposure, jobs))
    from capturerig.processing import MEMORY_RESOURCE  # a layer-mate that imports distributed: only with a client

    workers_info = client.scheduler_info(n_workers=-1)["workers"].values()
    offered = [int(w.get("resources", {}).get(MEMORY_RESOURCE, 0)) for w in workers_info]
    token = uuid.uuid4().hex[:12]
    futures = []
    for index, job in enumerate(jobs):
        pixels = [(rig.camera(camera).intrinsics.width * rig.camera(camera).intrinsics.height)
                  for camera, _, _, _ in job.members]
        need = (max(pixels) * _MASK_BYTES_PER_PIXEL + sum(pixels) * _MASK_BYTES_PER_PIXEL_HELD) // 1_000_000
        # Never more than the largest worker offers: such a task would wait for ever.
        memory = max(1, min(need, max(offered)) if offered and max(offered) > 0 else need)
        futures.append(client.submit(mask_exposure, job, key=f"package-masks-{token}-{index}",
                                     resources={MEMORY_RESOURCE: memory}, retries=2, pure=False))
    try:
        return list(client.gather(futures))  # type: ignore[no-untyped-call]
    except BaseException:
        client.cancel(futures)  # type: ignore[no-untyped-call]  # distributed has no annotations
        raise


@contextmanager
def _mask_folder(out_dir: Path) -> Iterator[Path]:
    """A hidden folder beside the package for the masks until the bag holds its copies, then removed; renamed
    first, so a task still running after a failure cannot write into what is being removed."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    folder = out_dir.parent / f".{out_dir.name}.masks-{uuid.uuid4().hex[:12]}"
    os.mkdir(folder)
    try:
        yield folder
    finally:
        gone = folder.with_name(folder.name.replace(".masks-", ".masks-done-", 1))
        os.rename(folder, gone)
        for attempt in range(3):
            try:
                shutil.rmtree(gone)
                break
            except OSError:  # a task given up on had a file open in it when it was renamed: it is ending
                if attempt == 2:
                    raise
                time.sleep(0.5)


def _masks_wanted(frames: Sequence[PackageFrame], masks: str, rgba: bool, session: str) -> bool:
    """Whether masks are to be made; MaskError for a request that cannot be met (see :func:`package_frames`)."""
    if masks not in MASKS_CHOICES:
        raise MaskError(f"--masks must be one of {', '.join(MASKS_CHOICES)}, got '{masks}'")
    plates = [frame for frame in frames if frame.role == "plate"]
    if masks == "on" and not plates:
        raise MaskError(f"--masks on: session {session} has no clean plates (its plan shot none: set plates: before "
                        "or after in plan.yaml and shoot them), so no masks can be made; package with --masks auto "
                        "or off")
    making = masks == "on" or (masks == "auto" and bool(plates))
    if rgba and not making:
        raise MaskError("--rgba: RGBA images carry the masks as alpha, and this package has none "
                        f"({'--masks off' if masks == 'off' else 'the session shot no clean plates'})")
    if making:
        _pair_plates([frame for frame in frames if _wants_mask(frame)], plates)
    return making


def package_frames(
    rig: RigConfig,
    frames: Sequence[PackageFrame],
    out_dir: str | Path,
    metadata: Mapping[str, Any],
    *,
    geometry: Geometry | None = None,
    masks: str = "auto",
    rgba: bool = False,
    workers: int | None = None,
    client: Client | None = None,
    **options: Any,
) -> PackageSummary:
    """Write a package of ``frames`` (a session's verified files, clean plates among them as role ``plate``), with
    a mask per training image made from the plates when ``masks`` asks.

    Parameters
    ----------
    rig, frames, out_dir, metadata
        As :func:`capturerig.packaging.write_package`.
    geometry : Geometry, optional
        A geometry calibration: the package's cameras and the visual hull that mends the masks; None uses the
        rig's nominal values and makes masks without a hull (package.json says so).
    masks : {"auto", "on", "off"}
        auto: masks when there are plates; on: masks, and no plates is an error; off: none (plates are still
        kept under ``data/plates/``).
    rgba : bool
        RGBA images for 3DGS (needs masks).
    workers, client
        Threads here (default: CPUs), or a Dask client: one task per exposure for the masks, per frame for placing.
    options
        Passed to :func:`capturerig.packaging.write_package` (colour, originals, planned, undistort ...).

    Raises
    ------
    MaskError
        ``masks`` is not a choice, ``on`` without plates, ``rgba`` without masks, plates missing for a camera,
        lighting state, station or bracket, or plates that do not fit the images (another rig size, another
        kind of file); nothing is written.
    """
    out_dir = Path(out_dir)
    making = _masks_wanted(frames, masks, rgba, str(metadata.get("session_id", "?")))
    plates = [frame for frame in frames if frame.role == "plate"]
    training = [frame for frame in frames if _wants_mask(frame)]
    write = {"workers": workers, "client": client, "geometry": geometry, "rgba": rgba, **options}
    if not making:
        note = "turned off (--masks off)" if plates else "the session shot no clean plates"
        return write_package(rig, frames, out_dir, metadata, masks={"made": False, "why": note}, **write)
    if out_dir.exists():  # before any mask is made
        raise FileExistsError(f"{out_dir} already exists; packages are never overwritten")
    pairs, fallbacks = _pair_plates(training, plates)
    with _mask_folder(out_dir) as folder:
        jobs, outputs = _mask_jobs(training, pairs, folder, geometry)
        results = _run_mask_jobs(jobs, rig, workers or os.cpu_count() or 1, client)
        with_hull = sum(result.hull for result in results)
        document = {
            "made": True, "mode": masks,
            "method": "difference against the clean plate of the same camera, lighting state, station and bracket "
                      "in linear light, the subject's floor shadows kept out (capturerig.masks, difference segmenter)",
            "plates": "plates/<camera>/<name>: the clean plates of the empty rig (plan pose 'plate'), as captured",
            "hull": (f"visual hull of every camera's silhouette per exposure, from geometry calibration "
                     f"{geometry.calibration_id or ''}".rstrip()) if geometry is not None
            else "none: no geometry calibration was given, so the masks are the plates' differences alone",
            "exposures": len(results), "exposures_with_hull": with_hull,
            "notes": [result.note for result in results if result.note is not None],
            "plate_fallbacks": fallbacks,
            "plate_of": {name: pairs[name].name for name in outputs},
        }
        masked = [replace(frame, mask=outputs[frame.name]) if frame.name in outputs else frame for frame in frames]
        return write_package(rig, masked, out_dir, metadata, masks=document, **write)


def package_session(
    session_dir: str | Path,
    out_dir: str | Path,
    allow_incomplete: bool = False,
    *,
    geometry: str | Path | None = None,
    colour: str | Path | None = None,
    originals: str = "keep",
    extra_payload: Mapping[str, bytes] | None = None,
    xmp_fields: Mapping[str, str] | None = None,
    undistort: bool = True,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    client: Client | None = None,
    masks: str = "auto",
    rgba: bool = False,
    sign: str = "auto",
    signing_dir: str | Path | None = None,
) -> PackageSummary:
    """Package every verified take of a session into a BagIt bag at ``out_dir`` (which must not exist yet).

    Parameters
    ----------
    session_dir, out_dir : path
        The session folder and the bag to create.
    allow_incomplete : bool
        Package a session whose plan is not finished (``verify`` will then name the missing takes).
    geometry, colour : path, optional
        ``geometry.json`` and ``colour.json`` from calibration; without geometry the rig's nominal values
        are used (and the package says so); with colour every image is corrected per camera.
    originals : {"keep", "reference", "drop"}
        With colour: what happens to the captured files (kept in the bag, referenced, or left out).
    extra_payload, xmp_fields : Mapping, optional
        More files under ``data/`` and XMP fields for every image; a session captured under a subject
        registry adds its consent provenance (``provenance/consent.json``, ``provenance/lineage.json``,
        PLUS model-release fields) itself.
    undistort : bool
        Write PINHOLE images and models for 3DGS in every snapshot.
    workers, progress
        Parallel workers (default: CPUs) and ``(bytes done, bytes total)`` progress.
    client : distributed.Client, optional
        Place the frames on this Dask cluster, one task each (``capturerig.processing.open_cluster``), and make
        the masks there, one task per exposure.
    masks : {"auto", "on", "off"}, rgba : bool
        Masks from the session's clean plates, and RGBA images for 3DGS (see :func:`package_frames`).
    sign : {"auto", "on", "off"}, signing_dir : path, optional
        Sign every image and the bag (C2PA) with the studio's identity in ``signing_dir`` (else
        ``$CAPTURERIG_SIGNING_DIR``, else the user config dir): auto when one is there, on (an error without
        one), off; package.json says whether the package is signed and why not.

    Raises
    ------
    IncompleteSession
        Takes are not verified and ``allow_incomplete`` is False.
    ConfigError
        A geometry or colour file that cannot be used.
    ConsentRefused
        The session's subject registry no longer allows packaging (revoked, expired, out of scope).
    MaskError
        Masks asked for and impossible: no plates, plates missing or not fitting (naming camera, lighting state,
        file); raised before the registry records a package.
    SigningRefused
        ``sign`` on without an identity, or an identity that cannot sign (expired certificate, wrong key
        password); raised before anything is written or recorded.
    """
    folder = SessionFolder.open(Path(session_dir))
    try:
        rig, plan = folder.rig.config, folder.plan.config
        records = folder.journal.takes()
        takes = expand_plan(rig, plan)
        missing = [t.id for t in takes if records.get(t.id) is None or records[t.id].status != TakeStatus.VERIFIED]
        if missing and not allow_incomplete:
            raise IncompleteSession(f"{len(missing)} of {len(takes)} takes are not verified (first: {missing[0]}); "
                                    f"run `capturerig resume {folder.path}` first")
        frames = _frames(folder, takes)
        planned = [PlannedTake(t.id, t.cameras, plan.coverage.min_cameras or len(t.cameras)) for t in takes]
        info = folder.info
        metadata: dict[str, Any] = {
            "session_id": info.session_id, "subject_id": info.subject_id, "consent_basis": info.consent_basis,
            "purpose": info.purpose, "rig": rig.name, "plan": plan.name, "created_at": info.created_at,
            "capturerig_version": capturerig_version(), "takes_verified": len(takes) - len(missing),
            "takes_planned": len(takes)}
        calibrated = load_package_geometry(geometry, rig) if geometry is not None else None
        used = {frame.camera_id for frame in frames}
        corrected = load_colour_correction(colour, used) if colour is not None else None
        if Path(out_dir).exists():  # before the registry records a package that will not be written
            raise FileExistsError(f"{out_dir} already exists; packages are never overwritten")
        _masks_wanted(frames, masks, rgba, str(info.session_id))  # likewise
        identity, unsigned_why = resolve_signing(sign, signing_dir)  # likewise
        payload, fields = dict(extra_payload or {}), dict(xmp_fields or {})
        if info.consent_registry:
            # Consent is checked again now (it may have been revoked or have expired since the capture); the
            # package carries consent.json and lineage.json and every image the model-release fields.
            provenance = package_provenance(
                info.consent_registry, info.subject_id, info.session_id, info.purpose, package_path=out_dir,
                capture={"rig": rig.name, "plan": plan.name, "created_at": info.created_at,
                         "capturerig_version": metadata["capturerig_version"]})
            payload = {**provenance.files, **payload}
            fields = {**provenance.xmp, **fields}
            metadata.update(package_id=provenance.package_id, consent_id=provenance.consent_id)
        signing = None if identity is None else PackageSigning(
            str(identity.directory), str(info.session_id), rig.name, payload.get("provenance/consent.json"),
            str(info.subject_id or ""), str(metadata["capturerig_version"]))
        return package_frames(
            rig, frames, Path(out_dir), metadata,
            geometry=calibrated, masks=masks, rgba=rgba, colour=corrected,
            originals=originals, planned=planned, extra_payload=payload, xmp_fields=fields,
            undistort=undistort, workers=workers, progress=progress, client=client, signing=signing,
            unsigned_why=unsigned_why)
    finally:
        folder.journal.close()
