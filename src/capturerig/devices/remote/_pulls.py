"""Pulling spooled files from an agent: together while the host's cameras deliver at once, by Range after a cut.

Each file is checked against the SHA-256 the agent took while writing it, hashed as its bytes arrive (one
pass). A file asked for alone is fetched with ``GET /v1/files/{id}``; the files of a host's cameras asked for
while a pull is in flight go together in one ``POST /v1/files/batch`` (their bytes one after the other, each
file's size known from its event). Whatever a cut leaves missing is fetched file by file with HTTP Range
from the byte it stopped at, so nothing that arrived is fetched again.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence

import httpx

from capturerig.devices.protocols import DeviceError, DeviceTimeout
from capturerig.devices.remote._coalesce import Coalescer
from capturerig.devices.remote._wire import API, SpooledFile

__all__ = ["Puller"]

RETRY_PAUSE_S = 0.1


class _Received:
    """One file's bytes as they arrive, hashed in the same pass."""

    def __init__(self, spooled: SpooledFile) -> None:
        self.spooled = spooled
        self.data = bytearray()
        self.digest = hashlib.sha256()

    @property
    def missing(self) -> int:
        return self.spooled.size - len(self.data)

    def add(self, chunk: memoryview | bytes) -> None:
        self.data += chunk
        self.digest.update(chunk)

    def restart(self) -> None:
        self.data.clear()
        self.digest = hashlib.sha256()

    def checked(self, host: str) -> bytes:
        if self.missing or self.digest.hexdigest() != self.spooled.sha256:
            raise DeviceError(self.spooled.camera_id, f"{self.spooled.card_name} from host {host} arrived altered "
                                                      f"({len(self.data)} bytes, hash differs from the agent's)")
        return bytes(self.data)


class Puller:
    """The file pulls of one host's link."""

    def __init__(self, host: str, http: httpx.Client, refused: Callable[[httpx.Response, str], None]) -> None:
        self._host = host
        self._http = http
        self._refused = refused
        self._batches: Coalescer[tuple[SpooledFile, float], bytes | DeviceError] = Coalescer(
            self._pull_batch, (DeviceError,))

    def pull(self, spooled: SpooledFile, timeout_s: float) -> bytes:
        """The file's bytes, checked. Raises DeviceError."""
        answer = self._batches.submit((spooled, time.monotonic() + timeout_s))
        if isinstance(answer, DeviceError):
            raise answer
        return answer

    def _pull_batch(self, batch: Sequence[tuple[SpooledFile, float]]) -> list[bytes | DeviceError]:
        files = [_Received(spooled) for spooled, _ in batch]
        if len(files) > 1:
            self._together(files, max(deadline for _, deadline in batch))
        answers: list[bytes | DeviceError] = []
        gone: DeviceError | None = None  # the host stopped answering: the rest fail at once, not in turn
        for received, (_, deadline) in zip(files, batch, strict=True):
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

    def _together(self, files: list[_Received], deadline: float) -> None:
        """One request for every file; a cut or a refusal leaves the rest to ``_by_range``."""
        body = {"file_ids": [f.spooled.file_id for f in files]}
        at = 0
        try:
            with self._http.stream("POST", f"{API}/files/batch", json=body,
                                   timeout=max(1.0, deadline - time.monotonic())) as response:
                if response.status_code >= 400:
                    response.read()
                    if response.status_code == 404:  # one of them is gone: each is asked for alone, and answered
                        return
                    self._refused(response, self._host)
                for chunk in response.iter_raw():
                    view = memoryview(chunk)
                    while view:
                        while at < len(files) and not files[at].missing:
                            at += 1
                        if at == len(files):
                            raise DeviceError(self._host, f"host {self._host} sent more bytes than its files hold")
                        part = min(files[at].missing, len(view))
                        files[at].add(view[:part])
                        view = view[part:]
        except httpx.TransportError:  # what arrived is kept; the rest is fetched by Range
            return

    def _by_range(self, received: _Received, deadline: float) -> None:
        spooled = received.spooled
        while received.missing:
            have = len(received.data)
            headers = {"Range": f"bytes={have}-"} if have else {}  # files outlive boots: no boot header
            try:
                with self._http.stream("GET", f"{API}/files/{spooled.file_id}", headers=headers,
                                       timeout=max(1.0, deadline - time.monotonic())) as response:
                    if response.status_code >= 400:
                        response.read()
                        self._refused(response, spooled.camera_id)
                    if have and response.status_code != 206:  # the agent sent the whole file again
                        received.restart()
                    for chunk in response.iter_raw():  # as received: a cut keeps what arrived
                        received.add(chunk)
            except httpx.TransportError as exc:
                if time.monotonic() >= deadline:
                    raise DeviceTimeout(spooled.camera_id, f"pulling {spooled.card_name} from host {self._host}: "
                                                           f"{len(received.data)} of {spooled.size} bytes: {exc}"
                                        ) from exc
                time.sleep(RETRY_PAUSE_S)
