"""A render cache on disk for sim cameras: an exposure's encoded files, found again by every input of its render.

A rig enables it with ``simulation: {render_cache: DIR}`` (a relative DIR is resolved against the rig file's
folder, as the other sim paths). Each exposure's files are stored as ``DIR/<key>.<format>``, the key being the
sha256 of a canonical encoding of everything the render reads (:func:`render_key`): the rig (cameras, fixtures,
``simulation.truth``/``look`` ...; not ``render_cache`` itself), the fixtures' profile modes, the camera, the
light frames, the table angle, the settings, the picture faults, the noise seed, the props, the subject's
presence, the room light, and the simulator's own source (an edited renderer must not be served old pixels).

What it is for: a benchmark that wants every camera to deliver real, distinct rendered images (so the
per-image checks do their full work) without ray-casting them on the host's cores during the timed capture
(a real rig renders nothing there): a warm-up session fills the cache, the timed sessions read it.

Writers use a temporary name and ``os.replace``, so camera workers in several processes can share ``DIR``:
a reader sees a whole file or none, and two writers of one key write the same bytes.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pydantic import BaseModel

from capturerig.config import RigConfig

__all__ = ["RENDER_CACHE_KEY", "RenderCache", "render_cache_folder", "render_cache_for", "render_key"]

RENDER_CACHE_KEY = "render_cache"
_SOURCE_PACKAGES = ("capturerig_sim", "capturerig.lighting")  # the renderer and the DMX decoding it uses


def render_cache_folder(rig: RigConfig, base_dir: Path) -> Path | None:
    """The folder ``rig.simulation.render_cache`` names (relative to ``base_dir``), or None without one.

    Raises ValueError (naming the rig and the key) when it is not a non-empty string.
    """
    raw: Any = rig.simulation.get(RENDER_CACHE_KEY)
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError(f"rig '{rig.name}' simulation.{RENDER_CACHE_KEY}: must be a folder path (a string), "
                         f"got {raw!r}")
    folder = Path(raw.strip()).expanduser()
    return folder if folder.is_absolute() else base_dir / folder


def _canonical(value: Any) -> Any:
    """``value`` as JSON data that two equal inputs (and only they) encode alike; bytes and arrays as digests.

    An unknown type raises TypeError rather than falling back to ``repr`` (which may hold an address and
    never hit, or drop what tells two inputs apart).
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return {"float": value.hex()}  # exact, and NaN/inf encode too
    if isinstance(value, bytes | bytearray | memoryview):
        return {"bytes": hashlib.sha256(bytes(value)).hexdigest()}
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        return {"array": [array.dtype.str, list(array.shape), hashlib.sha256(array.tobytes()).hexdigest()]}
    if isinstance(value, np.generic):
        return _canonical(value.item())
    if isinstance(value, enum.Enum):
        return _canonical(value.value)
    if isinstance(value, Path):
        return {"path": str(value)}
    if isinstance(value, BaseModel):
        return {type(value).__qualname__: _canonical(value.model_dump(mode="python"))}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {type(value).__qualname__: [[f.name, _canonical(getattr(value, f.name))]
                                           for f in dataclasses.fields(value)]}
    if isinstance(value, Mapping):  # keys need not be strings (light frames are keyed by (output, universe))
        items = [[_canonical(k), _canonical(v)] for k, v in value.items()]
        return {"map": sorted(items, key=lambda item: json.dumps(item[0], sort_keys=True))}
    if isinstance(value, set | frozenset):
        return {"set": sorted((_canonical(v) for v in value), key=lambda item: json.dumps(item, sort_keys=True))}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    raise TypeError(f"render cache key: cannot encode a {type(value).__qualname__} ({value!r:.80})")


def _digest(value: Any) -> str:
    encoded = json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(encoded.encode()).hexdigest()


@functools.lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    """The simulator's and the DMX decoding's source, and the encoders' versions: a code change is a new key."""
    import importlib

    digest = hashlib.sha256(f"numpy {np.__version__} opencv {cv2.__version__}".encode())
    for name in _SOURCE_PACKAGES:
        folder = Path(importlib.import_module(name).__file__ or "").parent
        for path in sorted(folder.rglob("*.py")):
            digest.update(str(path.relative_to(folder)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


_rig_digests: dict[int, tuple[RigConfig, Path, str]] = {}
_rig_lock = threading.Lock()


def _rig_digest(rig: RigConfig, base_dir: Path) -> str:
    """The rig's share of the key, once per rig object (a session reuses one; 16 cameras x many exposures)."""
    with _rig_lock:
        known = _rig_digests.get(id(rig))
        if known is not None and known[0] is rig and known[1] == base_dir:
            return known[2]
    from capturerig.lighting import fixture_mode

    document = rig.model_dump(mode="python")
    document["simulation"] = {k: v for k, v in rig.simulation.items() if k != RENDER_CACHE_KEY}
    # The fixture profiles are files beside the rig: their modes (channels, colours) shape the light.
    modes = [fixture_mode(fixture, base_dir) for fixture in rig.fixtures]
    digest = _digest({"code": _code_fingerprint(), "rig": document, "modes": modes})
    with _rig_lock:
        if len(_rig_digests) > 16:  # a long-lived process sees a few rigs; never grow without bound
            _rig_digests.clear()
        _rig_digests[id(rig)] = (rig, base_dir, digest)
    return digest


def render_key(rig: RigConfig, base_dir: Path, camera_id: str, inputs: object) -> str:
    """The cache key of one exposure of ``camera_id``: sha256 of the rig's share and ``inputs``, the rest of
    what the render reads (frames, angle, settings, faults, noise seed, props, subject, room light ...; a
    dataclass, mapping or any value :func:`_canonical` encodes)."""
    return _digest({"rig": _rig_digest(rig, base_dir), "camera": camera_id, "inputs": inputs})


class RenderCache:
    """Encoded exposures in ``folder`` by key (see the module doc). Counts its hits and misses."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()

    def _path(self, key: str, file_format: str) -> Path:
        return self.folder / f"{key}.{file_format}"

    def get(self, key: str, formats: Sequence[str]) -> list[tuple[str, bytes]] | None:
        """Every format's bytes of ``key``, or None unless all of them are stored (a writer may be mid-way)."""
        files = []
        for file_format in formats:
            try:
                files.append((file_format, self._path(key, file_format).read_bytes()))
            except FileNotFoundError:
                return None
        return files

    def put(self, key: str, files: Sequence[tuple[str, bytes]]) -> None:
        """Store ``files`` under ``key``: each under a temporary name, then renamed into place."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for file_format, data in files:
            handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=f".{key}.", suffix=".part")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(data)
                os.replace(temporary, self._path(key, file_format))
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise

    def files(self, key: str, formats: Sequence[str],
              render: Callable[[], list[tuple[str, bytes]]]) -> list[tuple[str, bytes]]:
        """The stored files of ``key``; on a miss ``render()``'s, stored for next time."""
        stored = self.get(key, formats)
        with self._lock:
            if stored is None:
                self.misses += 1
            else:
                self.hits += 1
        if stored is not None:
            return stored
        files = render()
        self.put(key, files)
        return files


_caches: dict[Path, RenderCache] = {}
_caches_lock = threading.Lock()


def render_cache_for(rig: RigConfig, base_dir: Path) -> RenderCache | None:
    """The process's cache of the folder ``rig.simulation.render_cache`` names, or None when it names none.

    Raises ValueError (naming ``simulation.render_cache``) when the setting is malformed.
    """
    folder = render_cache_folder(rig, base_dir)
    if folder is None:
        return None
    with _caches_lock:
        cache = _caches.get(folder)
        if cache is None:
            cache = _caches[folder] = RenderCache(folder)
        return cache
