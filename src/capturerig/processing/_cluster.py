"""The Dask client post-capture work runs on: a LocalCluster by default, a scheduler address to scale out."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import dask
from distributed import Client, LocalCluster

__all__ = ["CONNECT_TIMEOUT_S", "MEMORY_RESOURCE", "WORKER_ENVIRONMENT", "ProcessingError", "open_cluster"]

MEMORY_RESOURCE = "memory_mb"  # each task asks for its frame's working memory; each worker offers its share
CONNECT_TIMEOUT_S = 10.0  # a scheduler that does not answer within this is reported, not waited for
WORKER_ENVIRONMENT = {"NUMPY_MADVISE_HUGEPAGE": "0"}
"""Set in every local worker process (and in the documented ``dask worker`` line). numpy asks the kernel for
transparent huge pages for every array of 4 MB or more; a worker makes several frame-sized arrays per file, and
faulting fresh huge pages in stalls in the kernel (compaction, and in a VM the host's own paging) - with two
workers faulting at once, measured here: 2 workers 1.5x of 1 with the advice, 2.1x without (bench/develop)."""


class ProcessingError(RuntimeError):
    """The cluster cannot run our tasks (unreachable, other package versions, no worker offers memory)."""


def _local_memory_mb(workers: int) -> int:
    """Each local worker's share of the machine's memory, in MB (what its tasks may ask for in all)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 4 << 30
    return max(256, int(total / workers / 1e6))


def _check(client: Client, address: str) -> None:
    """Refuse a cluster whose workers run other package versions or offer no memory resource."""
    try:
        client.get_versions(check=True)
    except ValueError as exc:  # distributed says which packages differ, and where
        raise ProcessingError(f"the cluster at {address} runs other package versions than this controller: "
                              f"{exc}; install the same capturerig environment on every worker") from exc
    workers = client.scheduler_info(n_workers=-1)["workers"]
    if not workers:
        raise ProcessingError(f"the scheduler at {address} has no worker; start one per host with "
                              f"`NUMPY_MADVISE_HUGEPAGE=0 dask worker {address} --nthreads 1 --resources "
                              f"{MEMORY_RESOURCE}=<MB>`")
    offering = [w for w in workers.values() if w.get("resources", {}).get(MEMORY_RESOURCE)]
    if not offering:
        raise ProcessingError(f"no worker of {address} offers the {MEMORY_RESOURCE} resource our tasks ask for; "
                              f"start them with `--resources {MEMORY_RESOURCE}=<MB of memory for tasks>`")


@contextmanager
def open_cluster(scheduler: str | None = None, workers: int | None = None,
                 connect_timeout_s: float = CONNECT_TIMEOUT_S) -> Iterator[Client]:
    """A client on ``scheduler`` (an address such as ``tcp://10.0.0.5:8786``), or on a LocalCluster of
    ``workers`` processes (default: one per core) started here and closed on exit.

    Raises
    ------
    ProcessingError
        The scheduler cannot be reached, or its cluster cannot run our tasks (see :func:`_check`).
    """
    if scheduler:
        try:
            client = Client(scheduler, timeout=connect_timeout_s)
        except (OSError, TimeoutError) as exc:
            raise ProcessingError(f"cannot reach the Dask scheduler at {scheduler} ({exc}); is "
                                  "`dask scheduler` running there?") from exc
        try:
            _check(client, scheduler)
            yield client
        finally:
            client.close()
        return
    count = workers or os.cpu_count() or 1
    # Loopback only; its HTTP endpoint on a free port, so two clusters (or a studio's on 8787) never collide.
    memory = {MEMORY_RESOURCE: _local_memory_mb(count)}
    # In the environment the worker process starts with: numpy reads it once, at import, before the task runs.
    spawn_environment = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **WORKER_ENVIRONMENT}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": spawn_environment}), \
            LocalCluster(n_workers=count, threads_per_worker=1, processes=True, host="127.0.0.1",
                         dashboard_address="127.0.0.1:0", resources=memory) as cluster, Client(cluster) as client:
        yield client
