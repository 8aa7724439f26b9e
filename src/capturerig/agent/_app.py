"""The agent link's HTTP + WebSocket endpoints (version 1; the wire is described in devices/remote/_wire.py).

Every request must carry the host's token when the agent has one; a request naming another boot of this
agent is refused, so nothing meant for the agent before a restart acts on the new one. There is no shell,
exec or file-system endpoint: files are served by their spool id only.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, ValidationError

from capturerig.agent._agent import Agent
from capturerig.agent._events import Live
from capturerig.devices.remote import (
    API,
    BOOT_HEADER,
    Ack,
    AgentSnapshot,
    Command,
    CommandReplies,
    Commands,
    FileBatch,
    Hello,
    SpoolPlace,
    push_frame,
)

__all__ = ["agent_app"]

log = logging.getLogger(__name__)
WS_REFUSED = 4401  # close code: no or wrong token
WS_OLD_BOOT = 4409  # close code: the request named another boot of this agent
WHOLE_READ_BYTES = 8 << 20  # a file up to this size is served in one read (a JPEG, most RAWs)
STREAM_CHUNK_BYTES = 1 << 20
_Model = TypeVar("_Model", bound=BaseModel)


def _refusal(agent: Agent, token: str | None, authorization: str | None, boot: str | None) -> tuple[int, str] | None:
    if token is not None:
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
            return 401, f"agent {agent.settings.host}: missing or wrong token"
    if boot is not None and boot != agent.boot_id:
        return 409, (f"agent {agent.settings.host} restarted: boot {boot} is gone, this is boot {agent.boot_id}; "
                     f"reconcile from {API}/snapshot")
    return None


class _SpooledFileResponse(FileResponse):
    chunk_size = STREAM_CHUNK_BYTES  # Starlette's 64 KiB costs a thread hop each: most of a large file's CPU


def _concatenated(paths: list[Path]) -> Iterator[bytes]:
    for path in paths:
        with path.open("rb") as source:
            while chunk := source.read(STREAM_CHUNK_BYTES):
                yield chunk


async def _body(request: Request, model: type[_Model]) -> _Model:
    """The request's JSON body as ``model``, read straight from the bytes (a command's round trip is mostly the
    framework's work per request: FastAPI's own parsing and response checking cost as much again). Raises
    HTTPException 422 naming what is wrong, as FastAPI would."""
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        raise HTTPException(422, json.loads(exc.json(include_url=False))) from None


def agent_app(agent: Agent, token: str | None) -> FastAPI:
    """The endpoints of one agent; ``token`` None only on a loopback address (the CLI enforces it)."""
    app = FastAPI(title=f"capturerig agent {agent.settings.host}", docs_url=None, redoc_url=None, openapi_url=None)

    # Cheap endpoints are async: a sync one (or dependency) costs a hop to a worker thread per request, which
    # under load is most of a command's round trip (and of a hello's clock reading).
    async def authorise(request: Request) -> None:  # a dependency, not an HTTP middleware: a fraction of the cost
        refused = _refusal(agent, token, request.headers.get("authorization"), request.headers.get(BOOT_HEADER))
        if refused is not None:
            raise HTTPException(refused[0], refused[1])

    api = APIRouter(prefix=API, dependencies=[Depends(authorise)])

    @api.get("/hello")
    async def hello() -> Hello:
        return agent.hello()

    @api.get("/spool")
    async def spool() -> SpoolPlace:
        return agent.spool_place()

    @api.get("/snapshot")
    def snapshot() -> AgentSnapshot:
        return agent.snapshot()

    @api.post("/commands")
    async def command(request: Request) -> Response:  # run on the camera's own thread, awaited here
        reply = await asyncio.wrap_future(agent.submit(await _body(request, Command)))
        return Response(reply.model_dump_json(), media_type="application/json")

    @api.post("/commands/batch")
    async def commands(request: Request) -> Response:
        answers = [agent.submit(c) for c in (await _body(request, Commands)).commands]
        replies = CommandReplies(replies=[await asyncio.wrap_future(a) for a in answers])
        return Response(replies.model_dump_json(), media_type="application/json")

    @api.get("/files/{file_id}")
    def file(file_id: str, request: Request) -> Response:
        spooled = agent.spool.get(file_id)
        if spooled is None:
            raise HTTPException(404, f"agent {agent.settings.host}: no spooled file {file_id} (acknowledged, or "
                                     "never here)")
        headers = {"X-Capturerig-Sha256": spooled.sha256}
        path = agent.spool.path(file_id)
        if spooled.size <= WHOLE_READ_BYTES and "range" not in request.headers:
            # Read at once on this (worker) thread: a streamed FileResponse costs a thread hop per step.
            try:
                return Response(path.read_bytes(), media_type="application/octet-stream", headers=headers)
            except FileNotFoundError:  # acknowledged meanwhile
                raise HTTPException(404, f"agent {agent.settings.host}: spooled file {file_id} was "
                                         "acknowledged") from None
        return _SpooledFileResponse(path, media_type="application/octet-stream", headers=headers)

    @api.post("/files/batch")
    def files(batch: FileBatch) -> Response:
        found = {f: agent.spool.get(f) for f in batch.file_ids}
        missing = [f for f, spooled in found.items() if spooled is None]
        if missing:
            raise HTTPException(404, f"agent {agent.settings.host}: no spooled file {', '.join(missing)} "
                                     "(acknowledged, or never here)")
        paths = [agent.spool.path(f) for f in batch.file_ids]
        total = sum(s.size for s in found.values() if s is not None)
        if total <= WHOLE_READ_BYTES:
            try:
                return Response(b"".join(p.read_bytes() for p in paths), media_type="application/octet-stream")
            except FileNotFoundError:  # acknowledged meanwhile: the controller asks for each alone
                raise HTTPException(404, f"agent {agent.settings.host}: a file was acknowledged meanwhile") from None
        return StreamingResponse(_concatenated(paths), media_type="application/octet-stream",
                                 headers={"Content-Length": str(total)})  # a length, not chunks: reads resume

    @api.post("/files/ack")
    async def acknowledge(request: Request) -> Response:
        file_ids = (await _body(request, Ack)).file_ids
        acknowledged = await asyncio.to_thread(agent.acknowledge, file_ids)  # a ledger flush: off the event loop
        return Response(json.dumps({"acknowledged": acknowledged}), media_type="application/json")

    app.include_router(api)

    @app.websocket(f"{API}/events")
    async def events(socket: WebSocket, since: int = 0) -> None:
        refused = _refusal(agent, token, socket.headers.get("authorization"), socket.headers.get(BOOT_HEADER))
        if refused is not None:
            await socket.close(code=WS_REFUSED if refused[0] == 401 else WS_OLD_BOOT, reason=refused[1])
            return
        await socket.accept()
        backlog, queue = agent.events.subscribe(since)
        # One pending get kept across heartbeats: wait_for(queue.get(), ...) on Python 3.11 can time out after
        # the get took an event off the queue, and that event would never be sent (a gap in the sequence).
        pending: asyncio.Task[Live] = asyncio.ensure_future(queue.get())
        try:
            sent = since  # the last event this socket carried: what its heartbeats say the controller holds
            for kept in backlog:
                await socket.send_text(kept.model_dump_json())
                sent = kept.seq
            while True:
                done, _ = await asyncio.wait({pending}, timeout=agent.settings.heartbeat_s)
                if done:
                    live = pending.result()
                    pending = asyncio.ensure_future(queue.get())
                    for file_id, data in live.payloads.items():  # first, so the event finds them there
                        await socket.send_bytes(push_frame(file_id, data))
                    event = live.event
                    sent = event.seq
                else:
                    event = agent.events.heartbeat(sent)
                await socket.send_text(event.model_dump_json())
        except WebSocketDisconnect:
            log.info("agent %s: the controller's event socket closed (it replays from its last event)",
                     agent.settings.host)
        finally:
            pending.cancel()
            agent.events.unsubscribe(queue)

    return app
