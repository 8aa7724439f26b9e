"""The controller-worker framing: whole messages, a deadline, and a closed pipe seen as a gone worker."""

from __future__ import annotations

import os
import time

import pytest

from capturerig.devices.gphoto2._wire import WorkerGone, encode_message, read_message, write_message


def test_messages_cross_a_pipe_whole_even_when_large() -> None:
    read_fd, write_fd = os.pipe()
    try:
        os.set_blocking(write_fd, True)
        message = {"op": "files", "id": 3, "data": b"\xff\xd8" + bytes(range(256)) * 100}
        write_message(write_fd, message)
        assert read_message(read_fd, time.monotonic() + 5.0) == message
    finally:
        os.close(read_fd)
        os.close(write_fd)


def test_a_missing_answer_times_out_and_a_closed_pipe_is_a_gone_worker() -> None:
    read_fd, write_fd = os.pipe()
    try:
        half = encode_message({"op": "fire", "id": 1})
        os.write(write_fd, half[: len(half) // 2])  # a worker that stopped mid-answer
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            read_message(read_fd, started + 0.2)
        assert time.monotonic() - started < 5.0
    finally:
        os.close(write_fd)
    with pytest.raises(WorkerGone):
        read_message(read_fd, time.monotonic() + 5.0)
    os.close(read_fd)
