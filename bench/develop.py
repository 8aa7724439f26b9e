"""RAW development throughput: Dask workers against the same work in a plain loop, on the same DNG files.

Makes ``--files`` DNGs of ``--megapixels`` (the sim sensor: a 14-bit Bayer mosaic with photon and read noise,
each file unique) in a temporary folder, then times, files per second:

* plain rawpy: ``rawpy.imread`` + ``postprocess`` with the linear settings, nothing written (the bound), in
  ``--rounds`` rounds alternating with the development-only rounds below, the median of each;
* loop: ``capturerig.processing.develop_file`` (rawpy, sha256 check, 8-bit PNG + 16-bit TIFF written and
  renamed) called file after file in this process;
* Dask, 1 and 2 local worker processes: the same task, one per file, through ``develop_session``'s path; the
  loop, 1 worker and 2 workers interleaved for ``--rounds`` rounds, the median of each;
* Dask, 1 worker, development only (``develop_linear``: the same LibRaw call, plus the DNG's vignetting gain):
  against plain rawpy, what a worker adds to the decode itself; beside it the CPU time (user + system) and minor
  page faults per file of the thread that develops, which the machine's load does not change as it does wall
  time: what the worker's own work adds, apart from waiting for a core.

Every figure is one core per process: LibRaw's OpenMP runs one thread (OMP_NUM_THREADS=1), as in a Dask worker
(distributed sets it so, one worker process per core), so "1 worker" and "the loop" do the same work on the
same one core. Targets (issue 21): 1 worker >= 0.9x plain rawpy (development only) and >= 0.9x the loop (the
whole task); 2 workers >= 1.7x 1 worker on a 2-core machine.
Run: .venv/bin/python bench/develop.py [--files 16] [--megapixels 12] [--rounds 5]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

os.environ["OMP_NUM_THREADS"] = "1"  # before LibRaw loads: one core per process, as a Dask worker runs it

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _figures import record  # bench/ is not a package; bench/all.py collects these figures

if TYPE_CHECKING:
    from distributed import Client

ONE_WORKER_TARGET = 0.9
TWO_WORKER_TARGET = 1.7


def make_files(folder: Path, count: int, megapixels: float) -> list[tuple[Path, str]]:
    """``count`` unique DNGs of a textured grey scene; (path, sha256) each."""
    from capturerig_sim._response import camera_response
    from capturerig_sim.dng import DngMeta, encode_dng
    from capturerig_sim.raw_sensor import SensorModel, sensor_counts, vignetting_correction

    height = round((megapixels * 1e6 * 3 / 4) ** 0.5 / 2) * 2
    width = round(height * 4 / 3 / 2) * 2
    sensor = SensorModel()
    response = camera_response("BENCH0001")
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    scene = np.stack([0.2 + 0.15 * np.sin(xs / 37.0), 0.25 + 0.1 * np.cos(ys / 23.0),
                      0.2 + 0.1 * np.sin((xs + ys) / 51.0)], axis=-1).astype(np.float32)
    meta = DngMeta("capturerig", "bench", sensor.colour_matrix(response), sensor.as_shot_neutral(response),
                   1 / 125, 8.0, 100, "BENCH0001", vignetting_correction(sensor))
    files = []
    for index in range(count):
        data = encode_dng(sensor_counts(scene, response, 1.0, sensor, noise_seed=index), sensor, meta)
        path = folder / "cam00" / f"IMG_{index:04d}.dng"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files.append((path, hashlib.sha256(data).hexdigest()))
    return files


def _thread_usage() -> tuple[float, int]:
    """CPU seconds (user + system) and minor page faults of the calling thread so far (Linux: RUSAGE_THREAD; the
    whole process elsewhere). A worker's other threads (event loop, heartbeats, profiler) are left out."""
    usage = resource.getrusage(getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF))
    return usage.ru_utime + usage.ru_stime, usage.ru_minflt


def _plain_decode(path: Path) -> None:
    import rawpy

    # develop_linear's settings, spelled out (Clip and AHD are LibRaw's defaults too)
    with rawpy.imread(str(path)) as raw:
        raw.postprocess(gamma=(1, 1), no_auto_bright=True, output_bps=16, use_camera_wb=False,
                        use_auto_wb=False, user_wb=[1.0, 1.0, 1.0, 1.0], output_color=rawpy.ColorSpace.raw,
                        adjust_maximum_thr=0.0, highlight_mode=rawpy.HighlightMode.Clip,
                        demosaic_algorithm=rawpy.DemosaicAlgorithm.AHD)


def plain_rawpy(files: list[tuple[Path, str]], usage: list[tuple[float, int]] | None = None) -> float:
    """Files/s; with ``usage``, each file's (CPU seconds, minor faults) appended to it."""
    started = time.perf_counter()
    for path, _ in files:
        before = _thread_usage()
        _plain_decode(path)
        after = _thread_usage()
        if usage is not None:
            usage.append((after[0] - before[0], after[1] - before[1]))
    return len(files) / (time.perf_counter() - started)


def loop(files: list[tuple[Path, str]], out: Path) -> float:
    from capturerig.processing import develop_file

    started = time.perf_counter()
    for path, sha256 in files:
        stem = out / "cam00" / path.stem
        develop_file(str(path), sha256, "cam00", f"{stem}.png", f"{stem}.tif")
    return len(files) / (time.perf_counter() - started)


def _warm() -> None:
    """What a worker loads once, before its first file (a real cluster has it loaded from the first session)."""
    import capturerig.processing  # noqa: F401  (rawpy, OpenCV, tifffile and the colour code with it)


def _develop_only(path: str) -> tuple[float, int]:
    """develop_linear on one file (the frame dropped, as a task's end drops it): its (CPU seconds, minor faults)."""
    from capturerig.develop import develop_linear

    before = _thread_usage()
    developed = develop_linear(Path(path))
    after = _thread_usage()
    del developed
    return after[0] - before[0], after[1] - before[1]


def development_only(files: list[tuple[Path, str]], rounds: int) -> tuple[float, float, dict[str, tuple[float, float]]]:
    """Plain rawpy in this process and develop_linear on one Dask worker, files/s each: both warmed on the first
    file (LibRaw run once, the worker's vignetting gain computed), then ``rounds`` rounds over the same files in
    alternating order, the median round of each (the machine's load drifts; medians of interleaved rounds
    compare the two under the same load). Also, for each of the two, the median file's CPU seconds and minor
    page faults in the thread that developed it."""
    from statistics import median

    from capturerig.processing import MEMORY_RESOURCE, open_cluster

    plain_usage: list[tuple[float, int]] = []
    worker_usage: list[tuple[float, int]] = []

    def developing(client: Client) -> float:
        started = time.perf_counter()
        futures = [client.submit(_develop_only, str(path), resources={MEMORY_RESOURCE: 1}, pure=False)
                   for path, _ in files]
        worker_usage.extend(client.gather(futures))
        return len(files) / (time.perf_counter() - started)

    with open_cluster(workers=1) as client:
        client.run(_warm)
        _plain_decode(files[0][0])
        client.submit(_develop_only, str(files[0][0]), resources={MEMORY_RESOURCE: 1}, pure=False).result()
        plain, ours = [], []
        for round_ in range(rounds):
            if round_ % 2 == 0:
                plain.append(plain_rawpy(files, plain_usage))
                ours.append(developing(client))
            else:
                ours.append(developing(client))
                plain.append(plain_rawpy(files, plain_usage))
        usage = {name: (median(cpu for cpu, _ in per_file), median(faults for _, faults in per_file))
                 for name, per_file in (("plain", plain_usage), ("worker", worker_usage))}
        return median(plain), median(ours), usage


def _whole_task(client: Client, files: list[tuple[Path, str]], out: Path) -> float:
    from distributed import wait

    from capturerig.processing import MEMORY_RESOURCE, develop_file

    started = time.perf_counter()
    futures = []
    for path, sha256 in files:
        stem = out / "cam00" / path.stem
        futures.append(client.submit(develop_file, str(path), sha256, "cam00", f"{stem}.png", f"{stem}.tif",
                                     resources={MEMORY_RESOURCE: 1}, pure=False))
    wait(futures)
    for future in futures:
        future.result()
    return len(files) / (time.perf_counter() - started)


def whole_tasks(files: list[tuple[Path, str]], root: Path, rounds: int) -> tuple[float, float, float]:
    """The whole task (develop_file) in a loop here, on 1 worker and on 2 workers, files/s each: the three
    interleaved for ``rounds`` rounds (order rotated each round), the median of each. Both clusters stay up
    (an idle worker costs nothing measurable); each is warmed before the first round."""
    from statistics import median

    from capturerig.processing import open_cluster

    with open_cluster(workers=1) as one_client, open_cluster(workers=2) as two_client:
        for client in (one_client, two_client):
            client.run(_warm)  # workers up, LibRaw and our modules loaded, before the clock starts
        runs: dict[str, Callable[[], float]] = {
            "loop": lambda: loop(files, root / "loop"),
            "dask1": lambda: _whole_task(one_client, files, root / "dask1"),
            "dask2": lambda: _whole_task(two_client, files, root / "dask2"),
        }
        figures: dict[str, list[float]] = {name: [] for name in runs}
        names = list(runs)
        for round_ in range(rounds):
            for name in names[round_ % 3:] + names[:round_ % 3]:
                figures[name].append(runs[name]())
        return median(figures["loop"]), median(figures["dask1"]), median(figures["dask2"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of each comparison (the "
                        "median of each figure is reported)")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="bench-develop-") as scratch:
        root = Path(scratch)
        started = time.perf_counter()
        files = make_files(root / "raw", args.files, args.megapixels)
        size_mb = sum(p.stat().st_size for p, _ in files) / 1e6
        print(f"{len(files)} DNGs of {args.megapixels:g} MP ({size_mb:.0f} MB) made in "
              f"{time.perf_counter() - started:.1f} s")
        bound, developing, usage = development_only(files, args.rounds)
        looped, one, two = whole_tasks(files, root, args.rounds)
        identical = all((root / "loop" / "cam00" / name).read_bytes() == (root / run / "cam00" / name).read_bytes()
                        for run in ("dask1", "dask2") for name in os.listdir(root / "loop" / "cam00"))
    print(f"plain rawpy (develop only, nothing written): {bound:6.2f} files/s  (the bound)")
    print(f"Dask, 1 worker, development only:           {developing:6.2f} files/s  ({developing / bound:.2f}x plain "
          f"rawpy; target >= {ONE_WORKER_TARGET})")
    (plain_cpu, plain_faults), (worker_cpu, worker_faults) = usage["plain"], usage["worker"]
    print(f"  CPU per file, the developing thread:      plain rawpy {plain_cpu * 1e3:5.0f} ms, "
          f"{plain_faults:6.0f} minor faults; the worker's develop_linear {worker_cpu * 1e3:5.0f} ms, "
          f"{worker_faults:6.0f} ({worker_cpu / plain_cpu:.2f}x the CPU)")
    print(f"loop of develop_file (+ PNG + TIFF):         {looped:6.2f} files/s  ({looped / bound:.2f}x the bound)")
    print(f"Dask, 1 worker process:                      {one:6.2f} files/s  ({one / looped:.2f}x the loop; "
          f"target >= {ONE_WORKER_TARGET})")
    print(f"Dask, 2 worker processes:                    {two:6.2f} files/s  ({two / one:.2f}x 1 worker; "
          f"target >= {TWO_WORKER_TARGET} on 2 cores)")
    print(f"outputs byte-identical across loop, 1 and 2 workers: {identical}")
    note = f"{args.files} DNGs of {args.megapixels:g} MP, PNG + TIFF each"
    record("develop", "Dask 1 worker, development only / plain rawpy", developing / bound, "x",
           target=ONE_WORKER_TARGET, better="higher", note=note)
    record("develop", "Dask 1 worker, development only / plain rawpy, CPU per file", worker_cpu / plain_cpu, "x",
           better="lower", note=f"{note}; the developing thread's user + system time")
    record("develop", "Dask 1 worker / loop of the same task", one / looped, "x", target=ONE_WORKER_TARGET,
           better="higher", note=note)
    record("develop", "Dask 2 workers / 1 worker", two / one, "x", target=TWO_WORKER_TARGET, better="higher",
           note=note)
    record("develop", "loop of develop_file", looped, "files/s", bound=bound, better="higher", note=note)
    ok = (developing / bound >= ONE_WORKER_TARGET and one / looped >= ONE_WORKER_TARGET
          and two / one >= TWO_WORKER_TARGET and identical)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
