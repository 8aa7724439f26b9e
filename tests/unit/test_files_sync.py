"""One flush of a whole filesystem (Linux syncfs), as the agent's spool uses it for a take's files."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from capturerig.files import sync_filesystem


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="syncfs is Linux's")
def test_syncfs_flushes_the_filesystem_of_an_open_file_and_refuses_a_closed_descriptor(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT)
    try:
        os.write(fd, b"bytes")
        assert sync_filesystem(fd) is True
    finally:
        os.close(fd)
    with pytest.raises(OSError, match="Bad file descriptor"):
        sync_filesystem(fd)
