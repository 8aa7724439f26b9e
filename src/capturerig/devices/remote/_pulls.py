"""Pulling spooled files from an agent: together while the host's cameras deliver at once, by Range after a cut.

A file asked for alone is fetched with ``GET /v1/files/{id}``; the files of a host's cameras asked for while a
pull is in flight go together in one ``POST /v1/files/batch`` (their bytes one after the other, each file's
size known from its event). Whatever a cut leaves missing is fetched file by file with HTTP Range from the byte
it stopped at, so nothing that arrived is fetched again. A file is checked against the SHA-256 the agent took
while writing it: here, hashed as its bytes arrive (``pull``), or by the caller (``fetch``: the engine checks
it as it stores the file, so a session's files are hashed once in the controller, not twice).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import time
from collections.abc import Callable, Sequence

import numpy as np

from capturerig.devices.protocols import DeviceError, DeviceTimeout
from capturerig.devices.remote._coalesce import Coalescer
from capturerig.devices.remote._http import Connections, Transport
from capturerig.devices.remote._wire import API, SpooledFile

__all__ = ["Puller"]

RETRY_PAUSE_S = 0.1
READ_BYTES = 256 << 10  # per read: what a cut may cost (larger reads gain nothing)


class _Received:
    """One file's bytes as they arrive, straight into a buffer of its size, hashed in the same pass."""

    def __init__(self, spooled: SpooledFile, check: bool) -> None:
        self.spooled = spooled
        # Not a bytearray, which is zeroed first (one more pass over every byte), nor fresh mapped memory, which
        # the kernel zeroes page by page: uninitialised memory that the allocator reuses once the files before
        # it are stored and let go (a session's steady state), so each byte is written once, by the read.
        self.buffer: memoryview = np.empty(spooled.size, dtype=np.uint8).data
        self.have = 0
        self.digest = hashlib.sha256() if check else None

    @property
    def missing(self) -> int:
        return self.spooled.size - self.have

    def read_from(self, response: http.client.HTTPResponse) -> bool:
        """Read what ``response`` has of this file; False when it ended first (cut)."""
        view = self.buffer
        while self.missing:
            target = view[self.have:self.have + min(self.missing, READ_BYTES)]
            if response.chunked or response.length is None:
                got = response.readinto(target)  # a cut loses the read under way
            else:
                # Straight into the file's buffer, at most one read of the socket: a cut keeps all that came.
                # The body's length is kept as HTTPResponse.read1 keeps it, so the response ends as it should.
                got = response.fp.readinto1(target) if response.length else 0
                response.length -= got
            if not got:
                return False
            if self.digest is not None:
                self.digest.update(view[self.have:self.have + got])
            self.have += got
        return True

    def restart(self) -> None:
        self.have = 0
        if self.digest is not None:
            self.digest = hashlib.sha256()

    def checked(self, host: str) -> memoryview:
        """The whole file (checked against the agent's hash when asked to), in the buffer it was read into (a
        copy would cost as much as the read). Raises DeviceError."""
        if self.missing or (self.digest is not None and self.digest.hexdigest() != self.spooled.sha256):
            raise DeviceError(self.spooled.camera_id, f"{self.spooled.card_name} from host {host} arrived altered "
                                                      f"({self.have} bytes, hash differs from the agent's)")
        return self.buffer


class Puller:
    """The file pulls of one host's link."""

    def __init__(self, host: str, url: str, headers: dict[str, str],
                 refused: Callable[[int, bytes, str], None]) -> None:
        self._host = host
        self._connections = Connections(url, headers)
        self._refused = refused
        self._batches: Coalescer[tuple[SpooledFile, float, bool], memoryview | DeviceError] = Coalescer(
            self._pull_batch, (DeviceError,))

    def pull(self, spooled: SpooledFile, timeout_s: float, check: bool) -> memoryview:
        """The file's bytes, checked against its hash if ``check``. Raises DeviceError."""
        answer = self._batches.submit((spooled, time.monotonic() + timeout_s, check))
        if isinstance(answer, DeviceError):
            raise answer
        return answer

    def close(self) -> None:
        self._connections.close()

    def _pull_batch(self, batch: Sequence[tuple[SpooledFile, float, bool]]) -> list[memoryview | DeviceError]:
        files = [_Received(spooled, check) for spooled, _, check in batch]
        if len(files) > 1:
            self._together(files, max(deadline for _, deadline, _ in batch))
        answers: list[memoryview | DeviceError] = []
        gone: DeviceError | None = None  # the host stopped answering: the rest fail at once, not in turn
        for received, (_, deadline, _) in zip(files, batch, strict=True):
            try:
                if gone is not None:
                    raise DeviceError(received.spooled.camera_id, gone.message, gone.hint)
                if received.missing:
                    self._by_range(received, deadline)
                answers.append(received.checked(self._host))
            except DeviceTimeout as exc:
                gone = exc
                answers.append(exc)
            except DeviceError as exc:
                answers.append(exc)
        return answers

    def _refusal(self, response: http.client.HTTPResponse, device_id: str) -> None:
        """A 4xx/5xx answer said as the rest of the link says it. Raises DeviceError."""
        self._refused(response.status, response.read(), device_id)

    def _together(self, files: list[_Received], deadline: float) -> None:
        """One request for every file; a cut or a refusal leaves the rest to ``_by_range``."""
        body = json.dumps({"file_ids": [f.spooled.file_id for f in files]}).encode()
        try:
            connection, response = self._connections.request(
                "POST", f"{API}/files/batch", max(1.0, deadline - time.monotonic()), body)
            if response.status == 404:  # one of them is gone: each is asked for alone, and answered
                response.read()
                self._connections.give_back(connection, response)
                return
            if response.status >= 400:
                connection.close()
                self._refusal(response, self._host)
            for received in files:
                if not received.read_from(response):
                    connection.close()
                    return
            if response.read(1):
                connection.close()
                raise DeviceError(self._host, f"host {self._host} sent more bytes than its files hold")
            self._connections.give_back(connection, response)
        except Transport:  # what arrived is kept; the rest is fetched by Range
            return

    def _by_range(self, received: _Received, deadline: float) -> None:
        spooled = received.spooled
        while received.missing:
            have = received.have
            headers = {"Range": f"bytes={have}-"} if have else {}  # files outlive boots: no boot header
            try:
                connection, response = self._connections.request(
                    "GET", f"{API}/files/{spooled.file_id}", max(1.0, deadline - time.monotonic()), None, headers)
                if response.status >= 400:
                    connection.close()
                    self._refusal(response, spooled.camera_id)
                if have and response.status != 206:  # the agent sent the whole file again
                    received.restart()
                if received.read_from(response):
                    self._connections.give_back(connection, response)
                else:
                    connection.close()
            except Transport as exc:  # as received: a cut keeps what arrived
                if time.monotonic() >= deadline:
                    raise DeviceTimeout(spooled.camera_id, f"pulling {spooled.card_name} from host {self._host}: "
                                                           f"{received.have} of {spooled.size} bytes: {exc}") from exc
                time.sleep(RETRY_PAUSE_S)
