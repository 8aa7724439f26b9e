"""Placing a package's frames on Dask distributed: one task per frame, paths in, a small PlacedFrame out.

The writer imports this module only when it is given a client, so packaging without Dask never imports
``distributed``. It lives in packaging (not in ``capturerig.processing``, one layer up) because the writer
calls it: packaging may not import upward. Workers need the package's shared state -- rig, geometry,
colour correction, options -- once, not per frame: the client scatters a :class:`PlacerSpec` to every
worker, and each worker process builds its :class:`FramePlacer` (with its own undistortion tables) from it
once and keeps it for the package's run. Each task writes under temporary names and renames
(``packaging._files``), so a frame placed again after its worker died finds nothing in its way; what the
dead worker left under a temporary name is swept before the manifests are written.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distributed import Client, Future, as_completed

from capturerig.config import RigConfig
from capturerig.packaging._files import remove_temporaries
from capturerig.packaging._frames import PackageFrame
from capturerig.packaging._geometry import Geometry
from capturerig.packaging._signing import FrameSigner, PackageSigning
from capturerig.packaging._snapshot import ColourCorrection, FramePlacer, PlacedFrame
from capturerig.packaging._undistort import RASTER_EXTENSIONS, Undistorter

__all__ = ["MEMORY_RESOURCE", "PlacerSpec", "place_frame", "place_frames_on_cluster"]

# The resource capturerig.processing.open_cluster's workers offer (`dask worker --resources memory_mb=...`).
# processing sits a layer above packaging, so the name is repeated here; test_package_dask checks they agree.
MEMORY_RESOURCE = "memory_mb"
_TASK_RETRIES = 2  # as develop_session: a frame survives two workers dying under it
# Working memory per pixel of a frame: a RAW development holds the 16-bit mosaic, float32 RGB, 16-bit BGR and
# both renditions (~30 B/px, processing._develop), plus the undistorted copy and the camera's two float32
# remap tables (~11 B/px); a decoded JPEG or PNG about half that. Linked files need next to nothing.
_BYTES_PER_PIXEL = {"raw-rendition": 48, "pixels": 24}
_LINK_ONLY_MB = 16
_PLACERS_KEPT = 2  # per worker process: the running package and at most one other client's
_SETTLE_TIMEOUT_S = 120.0  # after a failure, how long tasks already running may take to finish their frame


@dataclass(frozen=True)
class PlacerSpec:
    """Everything a worker needs to place any frame of one package (sent once per worker)."""

    root: str
    rig: RigConfig
    geometry: Geometry
    camera_ids: Mapping[str, int]
    undistort: bool
    colour: ColourCorrection | None
    originals: str
    xmp_fields: Mapping[str, str]
    created: str
    rgba: bool = False
    signing: PackageSigning | None = None  # the identity's folder, never its key: each worker reads the key
    token: str = field(default_factory=lambda: uuid.uuid4().hex)  # this package run, the workers' cache key


_placers: OrderedDict[str, FramePlacer] = OrderedDict()
_busy: Counter[str] = Counter()  # frames being placed in this worker process, by package run
_lock = threading.Lock()


def _no_progress(count: int) -> None:
    del count  # progress is counted on the client, one frame at a time


def _placer(spec: PlacerSpec) -> FramePlacer:
    with _lock:
        placer = _placers.get(spec.token)
        if placer is None:
            undistorter = Undistorter(spec.geometry, spec.camera_ids) if spec.undistort else None
            placer = FramePlacer(Path(spec.root), spec.rig, spec.geometry, undistorter, spec.colour, spec.originals,
                                 spec.xmp_fields, _no_progress, created=spec.created, rgba=spec.rgba,
                                 signer=None if spec.signing is None else FrameSigner(spec.signing))
            _placers[spec.token] = placer
            while len(_placers) > _PLACERS_KEPT:
                _placers.popitem(last=False)[1].close()
        return placer


def place_frame(spec: PlacerSpec, frame: PackageFrame) -> PlacedFrame:
    """The task: place one frame of the package ``spec`` describes (on a worker); what it wrote.

    Raises
    ------
    PackageIntegrityError
        The frame's source no longer matches its journalled sha256.
    ValueError
        The frame cannot be placed (its size does not fit the geometry, it does not decode ...).
    """
    root = Path(spec.root)
    if not root.is_dir():  # the run was given up and its partial bag removed: never create it again
        raise FileNotFoundError(f"{root}: the package being written is gone; frame '{frame.name}' not placed")
    with _lock:
        _busy[spec.token] += 1
    try:
        return _placer(spec).place(frame)
    finally:
        with _lock:
            _busy[spec.token] -= 1
            if not _busy[spec.token]:
                del _busy[spec.token]


def _forget(token: str) -> None:
    """On a worker: drop the package run's placer (a 45 MP camera's undistortion tables are ~360 MB)."""
    with _lock:
        placer = _placers.pop(token, None)
    if placer is not None:
        placer.close()


def _frames_in_flight(token: str) -> int:
    """On a worker: how many frames of the package run ``token`` it is placing right now."""
    with _lock:
        return _busy.get(token, 0)


def _memory_mb(spec: PlacerSpec, frame: PackageFrame) -> int:
    # Signing holds the captured file, its signed copy and c2pa's output buffer in memory at once.
    signing = 3 * Path(frame.source).stat().st_size // 1_000_000 if spec.signing is not None else 0
    return _pixels_mb(spec, frame) + signing


def _pixels_mb(spec: PlacerSpec, frame: PackageFrame) -> int:
    camera = spec.geometry.cameras[frame.camera_id]
    if frame.role == "raw-rendition":
        per_pixel = _BYTES_PER_PIXEL["raw-rendition"]
    elif (frame.role == "image" and Path(frame.name).suffix.lower() in RASTER_EXTENSIONS
          and (spec.colour is not None or spec.undistort or (spec.rgba and frame.mask is not None))):
        per_pixel = _BYTES_PER_PIXEL["pixels"]
    else:
        return _LINK_ONLY_MB
    return max(_LINK_ONLY_MB, camera.width * camera.height * per_pixel // 1_000_000)


def _settle(client: Client, futures: Sequence[Future[Any]], spec: PlacerSpec) -> bool:
    """After a frame failed: cancel the frames not yet placed and wait until no worker is still placing one of
    this run's frames (Dask cannot stop a running task); False if some still were after the timeout (they fail
    once the writer has removed the partial bag)."""
    client.cancel(list(futures))  # type: ignore[no-untyped-call]  # distributed has no annotations
    deadline = time.monotonic() + _SETTLE_TIMEOUT_S
    while any(client.run(_frames_in_flight, spec.token).values()):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def place_frames_on_cluster(client: Client, frames: Sequence[PackageFrame], spec: PlacerSpec,
                            progress: Callable[[int], None] | None = None) -> list[PlacedFrame]:
    """Place every frame by one task each on ``client``'s cluster; the PlacedFrames in ``frames``' order.

    ``progress(source bytes)`` is called on this thread after each frame is placed, with its source's size.
    The first frame that fails is raised (as the task raised it) once no worker is writing any more.
    """
    # Scattered to every worker once; tasks take it by reference. hash=False: a new key per run, so a worker
    # never keeps a placer for an earlier package's partial directory.
    [shared] = client.scatter([spec], broadcast=True, hash=False)  # type: ignore[no-untyped-call]
    futures: dict[Future[Any], int] = {}
    # Submitted camera by camera, so a worker meets a camera's frames close together while its remap tables
    # for that camera are cached.
    for index in sorted(range(len(frames)), key=lambda i: (frames[i].camera_id, i)):
        frame = frames[index]
        future = client.submit(place_frame, shared, frame, key=f"package-frame-{spec.token}-{index}",
                               resources={MEMORY_RESOURCE: _memory_mb(spec, frame)}, retries=_TASK_RETRIES,
                               pure=False)
        futures[future] = index
    placed: list[PlacedFrame | None] = [None] * len(frames)
    try:
        # On this client's own loop: a process may hold more than one client (a local cluster and a studio's).
        for future in as_completed(list(futures), loop=client.loop):  # type: ignore[no-untyped-call]
            index = futures[future]
            try:
                placed[index] = future.result()
            except BaseException as error:
                if not _settle(client, list(futures), spec):
                    error.add_note(f"workers were still placing frames of {spec.root} "
                                   f"{_SETTLE_TIMEOUT_S:.0f} s after this")
                raise
            if progress is not None:
                progress(Path(frames[index].source).stat().st_size)
    finally:
        client.cancel([shared])  # type: ignore[no-untyped-call]
        # Freeing memory only: a worker that cannot be asked (gone, busy closing) frees it with its process.
        client.run(_forget, spec.token, on_error="ignore")
    remove_temporaries(Path(spec.root))  # left by a worker killed mid-write; its frame was placed again since
    return [p for p in placed if p is not None]
