"""From a session's journal to a training package: only verified files, renamed to stable flat names.

The engine glues the layers a package needs: the plan (which takes and cameras were required), lighting
(each state's levels and DMX frames), calibration (geometry.json, colour.json) and subjects (consent and
lineage provenance), and hands plain data to :func:`capturerig.packaging.write_package`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from capturerig.calibration.colour import load_colour
from capturerig.config import ConfigError, RigConfig, load_body_profile
from capturerig.engine._firing import bracket_shutter
from capturerig.engine._journal import TakeStatus
from capturerig.engine._session import SessionFolder
from capturerig.engine._version import capturerig_version
from capturerig.lighting import frames_for_condition
from capturerig.packaging import (
    ColourCorrection,
    Geometry,
    PackageFrame,
    PackageSummary,
    PlannedTake,
    geometry_from_document,
    write_package,
)
from capturerig.plan import Take, expand_plan
from capturerig.subjects import package_provenance

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["IncompleteSession", "load_colour_correction", "load_package_geometry", "package_session"]


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
        if file.format == RAW_FORMAT:
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
        Place the frames on this Dask cluster, one task each (``capturerig.processing.open_cluster``).

    Raises
    ------
    IncompleteSession
        Takes are not verified and ``allow_incomplete`` is False.
    ConfigError
        A geometry or colour file that cannot be used.
    ConsentRefused
        The session's subject registry no longer allows packaging (revoked, expired, out of scope).
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
        return write_package(
            rig, frames, Path(out_dir), metadata,
            geometry=calibrated, colour=corrected,
            originals=originals, planned=planned, extra_payload=payload, xmp_fields=fields,
            undistort=undistort, workers=workers, progress=progress, client=client)
    finally:
        folder.journal.close()
