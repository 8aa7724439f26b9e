"""Masks made on Dask while packaging (`capturerig package --dask`): one task per exposure on a local cluster,
paths in and paths out, the same masks as the thread pool makes, and no mask folder left beside the package."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from capturerig.engine._package import load_package_geometry, package_frames
from capturerig.processing import open_cluster
from tests.integration.test_package_masks import METADATA, Session, render_session

CAMERAS = ("cam00", "cam02", "cam04", "cam06", "cam09")


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    return render_session(tmp_path_factory.mktemp("masks-dask"), CAMERAS, ("l00",))


def _masks(package: Path) -> dict[str, bytes]:
    data = package / "data"
    return {str(path.relative_to(data)): path.read_bytes() for path in sorted(data.rglob("*.png"))
            if "masks" in path.parts or "rgba" in path.parts}


def test_masks_made_on_a_dask_cluster_equal_the_thread_pools(session: Session, tmp_path: Path) -> None:
    geometry = load_package_geometry(session.geometry_file, session.rig)
    package_frames(session.rig, session.frames, tmp_path / "threads", METADATA, geometry=geometry, rgba=True,
                   workers=2)
    with open_cluster(workers=2) as client:
        package_frames(session.rig, session.frames, tmp_path / "dask", METADATA, geometry=geometry, rgba=True,
                       client=client)
    threads, dask = _masks(tmp_path / "threads"), _masks(tmp_path / "dask")
    assert len(threads) == 4 * len(CAMERAS)  # masks/, colmap/masks/, undistorted/masks/, undistorted/rgba/
    assert threads == dask
    documents = [json.loads((tmp_path / name / "data" / "package.json").read_text())["masks"]
                 for name in ("threads", "dask")]
    assert documents[0] == documents[1]
    assert documents[1]["exposures_with_hull"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dask", "threads"]  # no hidden mask folder left
