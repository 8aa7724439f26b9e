"""The controller's end of the agent link: commands, the event stream, file pulls and acknowledgements.

One ``AgentLink`` per host, shared by that host's cameras. Commands go over HTTP with a ``cmd_id`` that a
retry repeats (the agent answers it once). Events come over one WebSocket kept open on the process's link loop
(``_loop``: one thread follows every host), which reconnects with ``since=`` the last event it holds, so
nothing is missed or seen twice. An agent that says nothing (not even its heartbeat) for ``dead_after_s`` is
dead: every wait on it fails at once, naming the host. An agent that restarted (a new boot id) fences the old
connection: the waits for the old boot's exposures are answered from its snapshot where its spool still holds
them, else they fail saying so.
A file of up to 1 MiB comes on the event socket just ahead of its event (nothing to ask for); others, and
any whose bytes did not come (a replay), are pulled: together while a host's cameras deliver at once, and by
HTTP Range after a cut, so a pull cut in the middle resumes where it stopped (``_pulls``). Every file is
checked against the SHA-256 the agent took while writing it (by the engine as it stores a session's files).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, cast

from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from capturerig.devices.protocols import DeviceError, DeviceTimeout
from capturerig.devices.remote._acks import Acknowledger
from capturerig.devices.remote._coalesce import Coalescer
from capturerig.devices.remote._http import Connections, Transport
from capturerig.devices.remote._loop import link_loop
from capturerig.devices.remote._pulls import Puller
from capturerig.devices.remote._wire import (
    API,
    BOOT_HEADER,
    PROTOCOL_VERSION,
    Ack,
    AgentEvent,
    AgentSnapshot,
    Command,
    CommandName,
    CommandReplies,
    CommandReply,
    Commands,
    Hello,
    SpooledFile,
    SpoolPlace,
    read_push_frame,
)

__all__ = ["AgentLink"]

log = logging.getLogger(__name__)
RETRY_PAUSE_S = 0.1
HELLO_SAMPLES = 5
REFUSED_GRACE_S = 2.0
EVENT_FRAME_MAX_BYTES = 2 << 20  # a pushed file (up to 1 MiB) with its id, with room: never refused as too big
PUSHED_KEPT_BYTES = 256 << 20  # pushed bytes kept for their waits at most (oldest dropped: pulled instead)
SILENCE_CHECK_S = 0.1  # how often a waiter checks that its agent is still heard from
SPOOLED_FRESH_S = 2.0
ACK_TIMEOUT_S = 10.0
ACK_BATCH_MAX = 5_000  # file ids per acknowledgement request (the wire's Ack takes up to 10,000)
ACK_FLUSH_S = 5.0  # at close: how long pending acknowledgements may take (the agent offers the rest again)
_Key = tuple[str, str, int]  # camera id, arm id, exposure


class AgentLink:
    """The controller's connection to the agent of one host."""

    def __init__(self, host: str, url: str, token: str | None, dead_after_s: float = 3.0) -> None:
        self.host = host
        self.url = url.rstrip("/")
        self.dead_after_s = dead_after_s
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        self._headers = headers
        self._state = threading.Condition()
        self.generation = 0  # goes up each time a (re)started agent is adopted: its cameras need setting up
        self.hello: Hello | None = None
        self.clock_offset_s = 0.0  # the agent's clock minus ours, measured at open
        self.round_trip_s = 0.0
        self._last_seq = 0
        self._last_heard = 0.0
        self._exposures: dict[_Key, AgentEvent] = {}
        self._waiting: dict[_Key, threading.Event] = {}  # set when that exposure arrives (or the link fails)
        self._pushed: OrderedDict[str, bytes] = OrderedDict()  # small files' bytes the agent sent ahead
        self._pushed_bytes = 0
        self._problem: str | None = None  # why the link cannot serve (dead, restarted ...)
        self._open_failed: tuple[float, DeviceError] | None = None  # when and why the last open failed
        self._closed = False
        self._follower: concurrent.futures.Future[None] | None = None  # _follow, on the link loop
        self._socket: ClientConnection | None = None
        self._commands: Coalescer[tuple[str, Command], CommandReply] = Coalescer(self._send_commands, (DeviceError,))
        self._acks = Acknowledger(host, self._send_acks)
        self._puller = Puller(host, self.url, headers, self._refused)
        self._requests = Connections(self.url, headers)  # everything but the event socket and the pulls
        self._acks_sent = 0
        self._spooled: tuple[float, tuple[int, int, int], list[SpooledFile]] | None = None
        self._spooled_lock = threading.Lock()

    # -- opening ------------------------------------------------------------------------------------------------
    def open(self, timeout_s: float) -> Hello:
        """Say hello (protocol, boot, clock) and follow the agent's events. After a silence or a restart this
        takes the link up again: the same boot carries on where it was; a new boot (the agent restarted) is
        adopted, ``generation`` goes up, and what its spool still holds answers the old boot's exposures.
        Raises DeviceError."""
        with self._state:
            if self.hello is not None and self._problem is None:  # open and heard from: nothing to take up
                return self.hello
            failed = self._open_failed
        if failed is not None and time.monotonic() - failed[0] < self.dead_after_s:
            raise DeviceError(self.host, failed[1].message, failed[1].hint)  # the host's cameras ask at once
        try:
            hello, offset, round_trip = self._hello(timeout_s)
        except DeviceError as exc:
            with self._state:
                self._open_failed = (time.monotonic(), exc)
            raise
        with self._state:
            self._open_failed = None
        if hello.protocol != PROTOCOL_VERSION:
            raise DeviceError(self.host, f"agent speaks link protocol {hello.protocol}, this controller "
                                         f"{PROTOCOL_VERSION}", "run the same capturerig release on every host")
        with self._state:
            restarted = self.hello is not None and self.hello.boot_id != hello.boot_id
            if self.hello is None:  # a new link: the boot's earlier events answer arms it never made
                self._last_seq = hello.last_seq
                self.generation += 1
            elif restarted:  # what the new boot did before this hello is replayed and reconciled
                self._last_seq = 0
                self.generation += 1
            self.hello, self.clock_offset_s, self.round_trip_s = hello, offset, round_trip
            self._last_heard, self._problem = time.monotonic(), None
            self._wake_all()
        if restarted:
            self._reconcile(timeout_s)
        socket = self._socket
        if restarted and socket is not None:
            self._close_socket(socket)  # the follower reconnects to the new boot
        with self._state:
            if self._follower is None:
                self._follower = asyncio.run_coroutine_threadsafe(self._follow(), link_loop())
        return hello

    def _reconcile(self, timeout_s: float) -> None:
        """After a restart: every exposure still in the agent's spool answers its wait (files are kept across
        boots; their ids never repeat)."""
        snapshot = self.snapshot(timeout_s)
        grouped: dict[_Key, list[SpooledFile]] = {}
        for spooled in snapshot.files:
            grouped.setdefault((spooled.camera_id, spooled.arm_id, spooled.exposure), []).append(spooled)
        with self._state:
            for (camera_id, arm_id, exposure), files in grouped.items():
                self._exposures.setdefault((camera_id, arm_id, exposure), AgentEvent(
                    boot_id=snapshot.boot_id, seq=0, at=time.time(), kind="exposure", camera_id=camera_id,
                    arm_id=arm_id, exposure=exposure, files=files))
            self._wake_all()

    def _hello(self, timeout_s: float) -> tuple[Hello, float, float]:
        """The agent's hello, and its clock offset from the fastest of a few round trips (NTP's rule: the
        fastest has the least room for an uneven delay)."""
        best: tuple[float, float, Hello] | None = None
        for _ in range(HELLO_SAMPLES):
            sent = time.time()
            answer = self._get(f"{API}/hello", timeout_s)
            received = time.time()
            hello = Hello.model_validate(answer)
            round_trip = received - sent
            if best is None or round_trip < best[0]:
                best = (round_trip, hello.clock - (sent + received) / 2, hello)
        if best is None:  # range(5) always runs; this only satisfies the type checker
            raise DeviceError(self.host, "no hello")
        return best[2], best[1], best[0]

    # -- commands -----------------------------------------------------------------------------------------------
    def command(self, camera_id: str, name: str, args: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Run a command on one of the host's cameras; retried with the same id until ``timeout_s`` while the
        link fails (the agent acts on it once). Commands asked for while another is in flight go together in
        the next request. Raises DeviceError (the camera's own error, or the link's)."""
        boot = self._boot(camera_id)
        command = Command(cmd_id=uuid.uuid4().hex, camera_id=camera_id, name=cast(CommandName, name), args=args,
                          timeout_s=timeout_s)
        try:
            reply = self._commands.submit((boot, command))
        except DeviceError as exc:  # the link's failure, said of this camera
            raise type(exc)(camera_id, exc.message, exc.hint) from exc
        if not reply.ok:
            raise DeviceError(camera_id, f"{reply.error} (on host {self.host})", reply.hint)
        return reply.result

    def commands(self, requests: Sequence[tuple[str, str, dict[str, Any]]],
                 timeout_s: float) -> list[dict[str, Any] | DeviceError]:
        """Run several commands (camera id, name, args) in one request, side by side on the agent; per command
        its result or the DeviceError it met (the link's own failure is each one's). Retried with the same
        ids while the link fails, as ``command``."""
        if not requests:
            return []
        try:
            boot = self._boot(requests[0][0])
            commands = [Command(cmd_id=uuid.uuid4().hex, camera_id=camera_id, name=cast(CommandName, name),
                                args=args, timeout_s=timeout_s) for camera_id, name, args in requests]
            replies = self._post_commands(boot, commands)
        except DeviceError as exc:
            return [type(exc)(camera_id, exc.message, exc.hint) for camera_id, _, _ in requests]
        return [reply.result if reply.ok else DeviceError(camera_id, f"{reply.error} (on host {self.host})",
                                                          reply.hint)
                for (camera_id, _, _), reply in zip(requests, replies, strict=True)]

    def _send_commands(self, batch: Sequence[tuple[str, Command]]) -> list[CommandReply]:
        """One request per boot named in ``batch`` (one, but for a restart between two callers)."""
        replies: dict[str, CommandReply] = {}
        for boot in dict.fromkeys(b for b, _ in batch):
            commands = [c for b, c in batch if b == boot]
            replies.update((r.cmd_id, r) for r in self._post_commands(boot, commands))
        return [replies[c.cmd_id] for _, c in batch]

    def _post_commands(self, boot: str, commands: list[Command]) -> list[CommandReply]:
        wait_s = max(c.timeout_s for c in commands) + self.dead_after_s
        body = Commands(commands=commands).model_dump_json().encode()
        deadline = time.monotonic() + wait_s
        while True:
            try:
                status, content = self._requests.exchange("POST", f"{API}/commands/batch", wait_s, body,
                                                          {BOOT_HEADER: boot})
            except Transport as exc:
                if time.monotonic() >= deadline:
                    names = ", ".join(sorted({c.name for c in commands}))
                    raise DeviceTimeout(self.host, f"host {self.host} did not answer {names}: {exc}") from exc
                time.sleep(RETRY_PAUSE_S)
                continue
            self._refused(status, content, self.host)
            replies = CommandReplies.model_validate_json(content).replies
            if [r.cmd_id for r in replies] != [c.cmd_id for c in commands]:
                raise DeviceError(self.host, f"host {self.host} answered other commands than it was sent")
            return replies

    def _boot(self, camera_id: str) -> str:
        """The boot the link follows; a link that went silent or saw a restart is taken up again first."""
        with self._state:
            problem = self._problem if self.hello is not None else f"host {self.host}: the agent link is not open"
        if problem is not None:
            try:
                self.open(self.dead_after_s)
            except DeviceError as exc:
                raise DeviceError(camera_id, f"{problem}; still unreachable: {exc}") from exc
        with self._state:
            if self.hello is None:
                raise DeviceError(camera_id, f"host {self.host}: the agent link is not open")
            return self.hello.boot_id

    def _refused(self, status: int, content: bytes, device_id: str) -> None:
        """An agent's 4xx/5xx answer said as the link says it. Raises DeviceError."""
        if status == 409:  # the agent restarted under us
            self._fence(f"host {self.host}: the agent restarted ({_detail(content)})")
            raise DeviceError(device_id, f"host {self.host}: the agent restarted; this take's state there is gone")
        if status == 401:
            raise DeviceError(device_id, f"host {self.host} refused the link's token",
                              "give the controller the token file the agent was started with")
        if status >= 400:
            raise DeviceError(device_id, f"host {self.host} answered {status}: "
                                         f"{content[:200].decode('utf-8', 'replace')}")

    def _get(self, path: str, timeout_s: float, headers: dict[str, str] | None = None,
             missing_ok: bool = False) -> Any:
        """The JSON answer to a GET (None for a 404 with ``missing_ok``); retried while the agent is starting."""
        started = time.monotonic()
        deadline = started + timeout_s
        while True:
            try:
                status, content = self._requests.exchange("GET", path, max(0.5, timeout_s), None, headers)
                break
            except Transport as exc:
                # Refused: nothing listens there. Give an agent that is starting a moment, not the whole timeout.
                refused = isinstance(exc, ConnectionRefusedError) and time.monotonic() - started >= REFUSED_GRACE_S
                if refused or time.monotonic() >= deadline:
                    raise DeviceTimeout(self.host, f"agent at {self.url} does not answer: {exc}",
                                        "start `capturerig agent` on that host, check its address") from exc
                time.sleep(RETRY_PAUSE_S)
        if missing_ok and status == 404:
            return None
        self._refused(status, content, self.host)
        return json.loads(content)

    def spool_place(self, timeout_s: float) -> SpoolPlace | None:
        """Where the agent keeps its spooled files on its host, or None from an agent too old to say."""
        answer = self._get(f"{API}/spool", timeout_s, missing_ok=True)
        return None if answer is None else SpoolPlace.model_validate(answer)

    def snapshot(self, timeout_s: float) -> AgentSnapshot:
        return AgentSnapshot.model_validate(self._get(f"{API}/snapshot", timeout_s))

    def spooled(self, timeout_s: float) -> list[SpooledFile]:
        """Every file the agent holds unacknowledged. One snapshot answers all the host's cameras asking in a
        row (a run's start and end ask each camera): it is asked again once an event or an acknowledgement may
        have changed the spool, or after ``SPOOLED_FRESH_S``."""
        self._acks.flush(timeout_s)  # a file acknowledged is not the agent's to offer
        with self._spooled_lock:  # the host's cameras asking at once wait for one snapshot
            with self._state:
                mark = (self.generation, self._last_seq, self._acks_sent)
                cached = self._spooled
                if cached is not None and cached[1] == mark and time.monotonic() - cached[0] < SPOOLED_FRESH_S:
                    return cached[2]
            files = self.snapshot(timeout_s).files
            with self._state:
                self._spooled = (time.monotonic(), mark, files)
            return files

    # -- events ---------------------------------------------------------------------------------------------------
    def wait_exposure(self, camera_id: str, arm_id: str, exposure: int, timeout_s: float) -> AgentEvent:
        """The ``exposure``-th exposure after arm ``arm_id`` (its files spooled, or why not). Raises
        DeviceTimeout when it does not come in time and DeviceError at once when the agent is gone."""
        key = (camera_id, arm_id, exposure)
        deadline = time.monotonic() + timeout_s
        # One wake-up per waiter: a notify_all per event woke every camera's thread for each of a take's events.
        with self._state:
            arrived = self._waiting.setdefault(key, threading.Event())
        try:
            while True:
                with self._state:
                    if key in self._exposures:
                        return self._exposures.pop(key)
                    if self._problem is not None:
                        raise DeviceError(camera_id, self._problem)
                    now = time.monotonic()
                    if now - self._last_heard > self.dead_after_s:
                        self._problem = (f"host {self.host}: agent silent for {now - self._last_heard:.1f} s (dead, "
                                         "or the network is cut)")
                        self._wake_all()
                        raise DeviceError(camera_id, self._problem,
                                          "check the capture host; its spool keeps every file")
                    if now >= deadline:
                        raise DeviceTimeout(camera_id, f"no exposure from host {self.host} within {timeout_s:.1f} s")
                arrived.wait(min(SILENCE_CHECK_S, deadline - now))
                arrived.clear()
        finally:
            with self._state:
                self._waiting.pop(key, None)

    def _wake_all(self) -> None:
        """Every waiter looks again (called holding ``_state``): the link failed or was taken up again."""
        for arrived in self._waiting.values():
            arrived.set()

    async def _follow(self) -> None:
        """On the link loop: keep one event socket open, reconnecting from the last event held."""
        while not self._closed:
            with self._state:
                boot, since = (self.hello.boot_id if self.hello else ""), self._last_seq
            try:
                async with connect(f"{self.url.replace('http', 'ws', 1)}{API}/events?since={since}",
                                   additional_headers={**self._headers, BOOT_HEADER: boot}, open_timeout=2.0,
                                   close_timeout=0.5, compression=None,  # small events: deflate is CPU
                                   max_size=EVENT_FRAME_MAX_BYTES) as socket:
                    self._socket = socket
                    if self._closed:  # closed while connecting: close() saw no socket to close
                        break
                    async for message in socket:
                        if isinstance(message, bytes):  # a small file's bytes, just ahead of its event
                            self._keep_pushed(*read_push_frame(message))
                            continue
                        if not self._receive(AgentEvent.model_validate_json(message)):
                            log.warning("host %s: an event went missing on the socket; replaying from %d",
                                        self.host, self._last_seq)
                            break
            except ValidationError as exc:  # read again after a reconnect it would fail again: the link stops here
                self._fence(f"host {self.host} sent an event this controller cannot read (another capturerig "
                            f"release?): {exc.errors(include_url=False)[:1]}")
                return
            except InvalidStatus as exc:
                log.warning("host %s refused the event socket: %s", self.host, exc)
            except ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code == 4409:
                    self._fence(f"host {self.host}: the agent restarted")
            except ConnectionRefusedError:
                # Its port refuses: the agent process is gone (a live one under load drops, never refuses), so
                # its waits fail now, not after the heartbeat's silence.
                if self.hello is not None:
                    self._fence(f"host {self.host}: the agent stopped (its port refuses connections)")
            except (OSError, WebSocketException, TimeoutError) as exc:
                log.debug("host %s event socket: %s", self.host, exc)
            finally:
                self._socket = None
            if not self._closed:
                await asyncio.sleep(RETRY_PAUSE_S)

    def _close_socket(self, socket: ClientConnection) -> None:
        """Close the event socket from any thread (its follower then reconnects, unless the link is closed)."""
        asyncio.run_coroutine_threadsafe(socket.close(), link_loop())

    def _receive(self, event: AgentEvent) -> bool:
        """Take one event in; False when it shows that one before it never came (the follower then replays)."""
        with self._state:
            if self.hello is None or event.boot_id != self.hello.boot_id:
                return True
            self._last_heard = time.monotonic()
            if event.kind == "heartbeat":  # it carries the last event its socket sent
                return event.seq <= self._last_seq
            if event.seq <= self._last_seq:  # a replay of one already held
                return True
            if event.seq > self._last_seq + 1:
                return False
            self._last_seq = event.seq
            if event.camera_id is not None and event.arm_id is not None and event.exposure is not None:
                key = (event.camera_id, event.arm_id, event.exposure)
                self._exposures[key] = event
                arrived = self._waiting.get(key)
                if arrived is not None:
                    arrived.set()
            return True

    def _keep_pushed(self, file_id: str, data: bytes) -> None:
        with self._state:
            self._pushed[file_id] = data
            self._pushed_bytes += len(data)
            while self._pushed_bytes > PUSHED_KEPT_BYTES:  # never asked for (its wait gave up): pulled if it is
                _, dropped = self._pushed.popitem(last=False)
                self._pushed_bytes -= len(dropped)

    def _take_pushed(self, spooled: SpooledFile) -> bytes | None:
        with self._state:
            data = self._pushed.pop(spooled.file_id, None)
            if data is not None:
                self._pushed_bytes -= len(data)
        return data if data is not None and len(data) == spooled.size else None

    def _fence(self, problem: str) -> None:
        with self._state:
            self._problem = problem
            self._wake_all()

    # -- files ----------------------------------------------------------------------------------------------------
    def pull(self, spooled: SpooledFile, timeout_s: float) -> bytes | bytearray | memoryview:
        """The file's bytes, checked against the agent's SHA-256 (see ``_pulls``). Raises DeviceError."""
        pushed = self._take_pushed(spooled)
        if pushed is not None and hashlib.sha256(pushed).hexdigest() == spooled.sha256:
            return pushed
        return self._puller.pull(spooled, timeout_s, check=True)

    def fetch(self, spooled: SpooledFile, timeout_s: float) -> bytes | bytearray | memoryview:
        """The file's bytes (as pushed on the event socket, else pulled), not yet checked: the caller checks them
        against ``spooled.sha256`` (the engine does, as it stores them: the one hash of the bytes it takes
        anyway). Raises DeviceError."""
        pushed = self._take_pushed(spooled)
        return pushed if pushed is not None else self._puller.pull(spooled, timeout_s, check=False)

    def acknowledge(self, file_ids: Sequence[str]) -> None:
        """The controller holds these files (journalled): the agent may delete them. Sent on the link's own
        thread, with whatever else is pending (``flush_acknowledgements`` waits for them)."""
        if file_ids:
            self._acks.soon(file_ids)
            with self._state:
                for file_id in file_ids:
                    data = self._pushed.pop(file_id, None)
                    self._pushed_bytes -= len(data) if data is not None else 0

    def flush_acknowledgements(self, timeout_s: float) -> bool:
        """Every acknowledgement so far has reached the agent (False: not within ``timeout_s``)."""
        return self._acks.flush(timeout_s)

    def _send_acks(self, file_ids: list[str]) -> None:
        with self._state:
            self._acks_sent += 1
        # In parts the wire takes (a host away for a long session may have more pending than one request holds).
        for start in range(0, len(file_ids), ACK_BATCH_MAX):
            part = Ack(file_ids=file_ids[start:start + ACK_BATCH_MAX])
            try:
                status, content = self._requests.exchange("POST", f"{API}/files/ack", ACK_TIMEOUT_S,
                                                          part.model_dump_json().encode())
            except Transport as exc:
                raise DeviceTimeout(self.host, f"could not acknowledge {len(file_ids) - start} files: {exc}") from exc
            self._refused(status, content, self.host)

    def close(self) -> None:
        with self._state:
            away = self._problem is not None
        self._acks.close(0.5 if away else ACK_FLUSH_S)  # an agent that is away offers those files again
        self._closed = True
        socket = self._socket
        if socket is not None:
            self._close_socket(socket)
        if self._follower is not None:
            try:
                self._follower.result(timeout=2.0)
            except concurrent.futures.TimeoutError:  # stuck connecting to a host that is away: let it go
                self._follower.cancel()
        self._requests.close()
        self._puller.close()


def _detail(content: bytes) -> str:
    """The ``detail`` of an agent's JSON error answer (its text when it is not one)."""
    try:
        answer = json.loads(content)
    except ValueError:
        return content[:200].decode("utf-8", "replace")
    return str(answer.get("detail", "")) if isinstance(answer, dict) else str(answer)
