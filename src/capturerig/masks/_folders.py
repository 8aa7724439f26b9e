"""Which plate goes with which image: folders per camera, lighting state (and station) from names or sidecars.

Layout: ``PLATES_DIR/<camera>/<file>`` and ``IMAGES_DIR/<camera>/<file>``, the camera folder named by the rig's
camera id. A file's lighting state and station come from

1. a sidecar ``<file>.json`` beside it, ``{"lighting": "l02", "station": "s01"}`` (station optional), or else
2. its name, split at ``_`` the way capturerig names takes (plan ids hold no ``_``), after a leading
   ``<camera>_`` if there is one: ``<light>`` (a plate), ``<station>_<light>`` (a plate per turntable station),
   or ``<pose>_<station>_<light>[_<bracket>][_a<N>]`` (a take, e.g. ``cam07_p00_s00_l03.jpg``).

An image takes the plate of its camera with its lighting state and station; a plate named without a station
serves every station (a rig with no turntable, or one whose table top no camera sees). An image's name less the
camera prefix names its exposure: the files of one exposure in every camera folder are carved into one hull.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from capturerig.develop import RAW_SUFFIXES
from capturerig.masks._linear import IMAGE_SUFFIXES, MaskError

__all__ = ["Shot", "pair_plates", "scan_folder"]

_MAX_LISTED = 12


@dataclass(frozen=True)
class Shot:
    """One file: its camera, path, lighting state, station (None: any) and exposure (name less camera)."""

    camera: str
    path: Path
    lighting: str
    station: str | None
    exposure: str

    def label(self, root: Path) -> str:
        return str(self.path.relative_to(root)) if self.path.is_relative_to(root) else str(self.path)


def _sidecar(path: Path) -> Mapping[str, object] | None:
    sidecar = path.with_name(path.name + ".json")
    if not sidecar.is_file():
        return None
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise MaskError(f"{sidecar}: not readable JSON ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("lighting"), str) or not (
            data.get("station") is None or isinstance(data.get("station"), str)):
        raise MaskError(f'{sidecar}: want {{"lighting": "<id>", "station": "<id>" (optional)}}, got {data!r}')
    return data


def _shot(camera: str, path: Path) -> Shot:
    fields = path.stem.split("_")
    if len(fields) > 1 and fields[0] == camera:
        fields = fields[1:]
    exposure = "_".join(fields)
    sidecar = _sidecar(path)
    if sidecar is not None:
        station = sidecar.get("station")
        return Shot(camera, path, str(sidecar["lighting"]), None if station is None else str(station), exposure)
    if len(fields) == 1:
        return Shot(camera, path, fields[0], None, exposure)
    if len(fields) == 2:
        return Shot(camera, path, fields[1], fields[0], exposure)
    return Shot(camera, path, fields[2], fields[1], exposure)


def scan_folder(root: Path, role: str) -> dict[str, list[Shot]]:
    """Every image and RAW file under ``root/<camera>/``, by camera.

    Raises
    ------
    MaskError
        ``root`` is not a folder or holds no camera folder with a file (``role`` names it: plates, images).
    """
    if not root.is_dir():
        raise MaskError(f"{role} folder {root}: not a folder")
    suffixes = IMAGE_SUFFIXES | RAW_SUFFIXES
    found: dict[str, list[Shot]] = {}
    for folder in sorted(path for path in root.iterdir() if path.is_dir()):
        files = sorted(path for path in folder.iterdir() if path.is_file() and path.suffix.lower() in suffixes)
        if files:
            found[folder.name] = [_shot(folder.name, path) for path in files]
    if not found:
        raise MaskError(f"{role} folder {root}: no <camera>/<file> images in it (want {role.upper()}/<camera>/"
                        "<file>, e.g. cam00/p00_s00_l00.jpg)")
    return found


def _states(shots: list[Shot]) -> str:
    return ", ".join(sorted({shot.lighting + (f"@{shot.station}" if shot.station else "") for shot in shots}))


def pair_plates(plates: Mapping[str, list[Shot]], images: Mapping[str, list[Shot]], plates_root: Path,
                images_root: Path) -> list[tuple[Shot, Shot]]:
    """Each image with its plate.

    Raises
    ------
    MaskError
        Listing every camera without plates and every image whose lighting state (at its station) has no plate.
    """
    problems: list[str] = []
    pairs = []
    for camera, shots in sorted(images.items()):
        own = plates.get(camera)
        if own is None:
            problems.append(f"camera {camera}: no plates ({plates_root / camera} is missing or empty; plates "
                            f"exist for {', '.join(sorted(plates)) or 'no camera'})")
            continue
        by_state = {(plate.lighting, plate.station): plate for plate in own}
        for shot in shots:
            plate = by_state.get((shot.lighting, shot.station)) or by_state.get((shot.lighting, None))
            if plate is None:
                where = f" at station {shot.station}" if shot.station else ""
                problems.append(f"{shot.label(images_root)}: no plate for lighting state {shot.lighting}{where} "
                                f"in {plates_root / camera} (it has {_states(own)})")
                continue
            pairs.append((shot, plate))
    if problems:
        more = len(problems) - _MAX_LISTED
        listed = problems[:_MAX_LISTED] + ([f"... and {more} more"] if more > 0 else [])
        raise MaskError("plates missing:\n  " + "\n  ".join(listed))
    return pairs
