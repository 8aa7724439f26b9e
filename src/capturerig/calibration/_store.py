"""A studio's stored calibrations: one geometry + colour calibration per studio day, reused while the rig holds.

A studio calibrates once a day, not per subject. Each stored calibration keeps, beside its ``geometry.json``
and ``colour.json``, the rig it was made for (the whole validated rig file, the simulation section included).
A later session may reuse it only while the rig is exactly that rig: a camera moved, swapped or refocused in
the rig file, or a change of the studio it describes, means calibrating again, and the store says what
changed.

Layout: ``<store>/<calibration id>/studio-calibration.json`` (schema :data:`STORE_SCHEMA`) with the files it
names beside it. A calibration being made lives in a hidden ``.partial-*`` folder until it is complete, so
a crash or a failed quality gate never leaves something that looks reusable (and what it shot is kept).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capturerig.config import RigConfig

__all__ = ["STORE_SCHEMA", "CalibrationStore", "StoredCalibration", "rig_changes", "rig_document"]

STORE_SCHEMA = "capturerig.studio-calibration/1"
_INDEX = "studio-calibration.json"


def rig_document(rig: RigConfig) -> dict[str, Any]:
    """The rig as plain JSON data: what a stored calibration compares a later rig with."""
    document: dict[str, Any] = json.loads(json.dumps(rig.model_dump(mode="json")))
    return document


def _short(value: Any) -> str:
    text = json.dumps(value, separators=(", ", ": "))
    return text if len(text) <= 60 else text[:57] + "..."


def _field_changes(where: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    changes = []
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            changes.append(f"{where}{key} {_short(before.get(key))} -> {_short(after.get(key))}")
    return changes


def rig_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """What differs between two :func:`rig_document` s, one line per change, cameras by id.

    An empty list means the rig is unchanged.
    """
    changes = []
    cameras_before = {camera["id"]: camera for camera in before.get("cameras", [])}
    cameras_after = {camera["id"]: camera for camera in after.get("cameras", [])}
    for camera_id in sorted(set(cameras_before) | set(cameras_after)):
        old, new = cameras_before.get(camera_id), cameras_after.get(camera_id)
        if old is None:
            changes.append(f"camera {camera_id} added")
        elif new is None:
            changes.append(f"camera {camera_id} removed")
        elif old != new:
            changes += _field_changes(f"camera {camera_id}: ", old, new)
    for key in sorted((set(before) | set(after)) - {"cameras"}):
        if before.get(key) != after.get(key):
            if isinstance(before.get(key), Mapping) and isinstance(after.get(key), Mapping):
                changes += _field_changes(f"{key}.", before[key], after[key])
            else:
                changes.append(f"{key} changed")
    return changes


@dataclass(frozen=True)
class StoredCalibration:
    """One studio day's calibration in a :class:`CalibrationStore`.

    Attributes
    ----------
    id
        The geometry calibration's id, which names the whole day's calibration.
    folder
        Its folder in the store.
    created
        When it was made (ISO 8601, UTC).
    geometry, colour
        Its ``geometry.json`` and ``colour.json``.
    figures
        What it measured (``geometry_rms_px``, ``colour_loo_de00`` ...), as stored.
    rig
        The :func:`rig_document` it was made for.
    """

    id: str
    folder: Path
    created: str
    geometry: Path
    colour: Path
    figures: Mapping[str, Any]
    rig: Mapping[str, Any]


class CalibrationStore:
    """The calibrations kept in ``folder``; see the module docstring."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def stored(self) -> list[StoredCalibration]:
        """Every complete calibration, oldest first.

        Raises
        ------
        ValueError
            For an index file that is not a calibration of this schema (naming the file).
        """
        found = []
        if self.folder.is_dir():
            for index in sorted(self.folder.glob(f"[!.]*/{_INDEX}")):
                found.append(self._read(index))
        return sorted(found, key=lambda entry: entry.created)

    def _read(self, index: Path) -> StoredCalibration:
        try:
            data = json.loads(index.read_text(encoding="utf-8"))
            if data.get("schema") != STORE_SCHEMA:
                raise ValueError(f"schema is {data.get('schema')!r}, expected {STORE_SCHEMA!r}")
            return StoredCalibration(str(data["id"]), index.parent, str(data["created"]),
                                     index.parent / data["geometry"], index.parent / data["colour"],
                                     dict(data.get("figures", {})), dict(data["rig"]))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValueError(f"{index}: not a stored studio calibration ({exc}); move it out of {self.folder}"
                             ) from exc

    def for_rig(self, rig: RigConfig) -> tuple[StoredCalibration | None, list[str]]:
        """The newest calibration made for exactly ``rig``, or None and why not.

        Returns
        -------
        tuple
            ``(calibration, [])`` when the newest stored calibration was made for this rig; otherwise
            ``(None, reasons)``: nothing stored yet, or what changed since the newest one.
        """
        stored = self.stored()
        if not stored:
            return None, [f"no calibration stored in {self.folder} yet"]
        newest = stored[-1]
        missing = [str(path) for path in (newest.geometry, newest.colour) if not path.is_file()]
        if missing:
            return None, [f"calibration {newest.id} lost {', '.join(missing)}"]
        changes = rig_changes(newest.rig, rig_document(rig))
        if changes:
            return None, [f"the rig changed since calibration {newest.id}: {change}" for change in changes]
        return newest, []

    def begin(self) -> Path:
        """A fresh hidden folder to make a calibration in; :meth:`commit` publishes it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.folder / f".partial-{uuid.uuid4().hex[:12]}"
        partial.mkdir()
        return partial

    def commit(self, partial: Path, calibration_id: str, created: str, rig: RigConfig, geometry: Path,
               colour: Path, figures: Mapping[str, Any]) -> StoredCalibration:
        """Publish the calibration made in ``partial`` (from :meth:`begin`) under its id.

        ``geometry`` and ``colour`` are files inside ``partial``.

        Raises
        ------
        FileExistsError
            When the store already holds a calibration of that id.
        """
        target = self.folder / calibration_id
        if target.exists():
            raise FileExistsError(f"{target} exists; calibrations are never overwritten")
        document = {"schema": STORE_SCHEMA, "id": calibration_id, "created": created,
                    "geometry": str(geometry.relative_to(partial)), "colour": str(colour.relative_to(partial)),
                    "figures": dict(figures), "rig": rig_document(rig)}
        index = partial / _INDEX
        with index.open("w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(partial, target)
        return self._read(target / _INDEX)
