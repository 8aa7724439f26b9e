"""Durable files: fsync a file or a directory, hash a file as it is on disk (the lowest layer, with config)."""

from capturerig.files._durable import (
    CHUNK_BYTES,
    fsync_dir,
    fsync_file,
    remove_temporaries,
    sha256_file,
    sync_filesystem,
    temporary_path,
)

__all__ = ["CHUNK_BYTES", "fsync_dir", "fsync_file", "remove_temporaries", "sha256_file", "sync_filesystem",
           "temporary_path"]
