"""Post-capture work on Dask distributed: one task per file, paths (never image arrays) through the client.

:func:`open_cluster` gives a client: a LocalCluster sized to the machine (one single-threaded worker process
per core, on loopback), or an existing scheduler at an address (``dask scheduler`` / ``dask worker`` on the
studio's hosts), whose package versions are checked on connect. :func:`develop_session` develops a session's
RAW files through it: each task checks its file against the journal's sha256, writes under a temporary name
and renames, so a task retried after a worker died is harmless; each asks for a ``memory_mb`` resource sized
to its frame, so large frames never overrun a worker.
"""

from capturerig.processing._cluster import MEMORY_RESOURCE, WORKER_ENVIRONMENT, ProcessingError, open_cluster
from capturerig.processing._develop import DevelopReport, develop_session, raw_files
from capturerig.processing._tasks import develop_file

__all__ = ["MEMORY_RESOURCE", "WORKER_ENVIRONMENT", "DevelopReport", "ProcessingError", "develop_file",
           "develop_session", "open_cluster", "raw_files"]

# Placement near the file (a capture host's kept copy, read by a worker on that host).
from capturerig.processing._develop import HeldCopy, held_copies, host_workers
from capturerig.processing._tasks import HOST_RESOURCE_PREFIX, DevelopedFile, develop_near

__all__ += ["HOST_RESOURCE_PREFIX", "DevelopedFile", "HeldCopy", "develop_near", "held_copies", "host_workers"]
