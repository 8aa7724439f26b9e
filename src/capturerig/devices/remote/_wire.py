"""The agent link's wire, version 1: what the controller and a capture agent say to each other.

One port per agent, HTTP + WebSocket, every request carrying the host's token (``Authorization: Bearer``):

- ``GET /v1/hello``: the agent's protocol version, host, boot id, cameras, clock and spool (``Hello``);
- ``POST /v1/commands``: a ``Command`` for one camera; the agent answers each ``cmd_id`` once and repeats
  that answer to a retry, so a retried arm or fire never acts twice (``CommandReply``);
- ``POST /v1/commands/batch``: ``Commands`` for several cameras, run side by side, answered in order
  (``CommandReplies``); each ``cmd_id`` is still answered once;
- ``WS /v1/events?since=N``: ``AgentEvent``s numbered from 1 per boot (text frames, JSON), the ones after
  ``N`` replayed first, then live, with a heartbeat every ``heartbeat_s``. A live exposure's small files
  come just before it as binary frames (``push_frame``: the file id's 32 ASCII characters, then its bytes),
  so the controller need not ask for them; a replay carries no bytes (those files are pulled);
- ``GET /v1/files/{file_id}``: a spooled file (HTTP Range: a pull resumes where it stopped);
- ``POST /v1/files/batch``: several spooled files (``FileBatch``), their bytes one after the other;
- ``POST /v1/files/ack``: the controller holds these files (fsynced, hashed, journalled): the agent may now
  delete them from its spool and the camera's card;
- ``GET /v1/snapshot``: everything the agent holds (``AgentSnapshot``), to reconcile after any restart.
- ``GET /v1/spool``: where the agent's spool is on its host's disk and whether it keeps acknowledged files
  there (``SpoolPlace``), so post-capture work on that host can read them; an agent older than this endpoint
  answers 404, which means "not known" (added to version 1: nothing else changed).

``Hello.last_seq`` (added to version 1; an older agent's hello lacks it and reads as 0) is the number of the
agent's last event: a controller opening a link follows the events from there, not from the boot's first (the
events before it answer arms another controller, or an earlier session, made; what their files became is in the
snapshot). Hello is read ignoring fields it does not know, so later additions keep older controllers reading it.

A request naming a boot id (``BOOT_HEADER``) other than the agent's current one is refused (409): a
command meant for the agent before its restart never reaches the new one.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "API",
    "BOOT_HEADER",
    "PROTOCOL_VERSION",
    "Ack",
    "AgentEvent",
    "AgentSnapshot",
    "CameraView",
    "Command",
    "CommandName",
    "CommandReplies",
    "CommandReply",
    "Commands",
    "FileBatch",
    "Hello",
    "SpoolPlace",
    "SpoolSummary",
    "SpooledFile",
    "push_frame",
    "read_push_frame",
]

PROTOCOL_VERSION = 1
API = "/v1"
BOOT_HEADER = "X-Capturerig-Agent-Boot"

CommandName = Literal["connect", "apply_settings", "arm", "fire", "close"]


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SpoolSummary(_Wire):
    files: int = Field(description="files in the spool not yet acknowledged by the controller")
    bytes: int = Field(description="their size")
    free_bytes: int = Field(description="free space on the spool's disk")
    reserve_bytes: int = Field(description="the agent refuses to arm a camera when free space is below this")


class SpoolPlace(_Wire):
    host: str
    files_dir: str = Field(description="absolute folder on the agent's host holding each spooled file under its "
                                       "file_id")
    keep_acknowledged: bool = Field(description="whether acknowledged files stay there (until the reserve needs "
                                                "the room)")


class Hello(_Wire):
    # Read leniently: a field a later release of version 1 adds must not stop an older controller from reading
    # the protocol number (which is what tells it to refuse the host).
    model_config = ConfigDict(frozen=True, extra="ignore")

    protocol: int
    capturerig_version: str
    host: str
    boot_id: str = Field(description="new at every start of the agent")
    cameras: list[str]
    clock: float = Field(description="the agent's time.time() as it answered")
    heartbeat_s: float
    spool: SpoolSummary
    last_seq: int = Field(0, ge=0, description="the last event's number as it answered (added to version 1; "
                                                "0 from an older agent): a new controller follows from here")


class Command(_Wire):
    cmd_id: str = Field(min_length=1, max_length=100, description="unique per command; a retry repeats it")
    camera_id: str
    name: CommandName
    args: dict[str, Any] = Field(default_factory=dict)
    timeout_s: float = Field(gt=0, le=600)


class CommandReply(_Wire):
    cmd_id: str
    ok: bool
    result: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    hint: str = ""


class Commands(_Wire):
    commands: list[Command] = Field(min_length=1, max_length=1000)


class CommandReplies(_Wire):
    replies: list[CommandReply]


class SpooledFile(_Wire):
    file_id: str = Field(description="the agent's name for it; unique for ever on that host")
    camera_id: str
    card_name: str
    format: str
    size: int
    sha256: str
    exposed_at: float
    arm_id: str = Field(description="the arm command this exposure answers")
    exposure: int = Field(description="0 for the first exposure after that arm, 1 for the next ...")
    session_id: str | None = Field(None, description="the session the controller armed this exposure for")
    take_id: str | None = None
    attempt: int | None = None


class AgentEvent(_Wire):
    boot_id: str
    seq: int
    at: float
    kind: Literal["exposure", "exposure_failed", "heartbeat"]
    camera_id: str | None = None
    arm_id: str | None = None
    exposure: int | None = None
    files: list[SpooledFile] = Field(default_factory=list)
    error: str | None = None


class CameraView(_Wire):
    connected: bool
    armed_for: int = Field(description="exposures still expected from the last arm")
    last_error: str | None = None


class AgentSnapshot(_Wire):
    host: str
    boot_id: str
    seq: int = Field(description="the last event's number")
    cameras: dict[str, CameraView]
    files: list[SpooledFile] = Field(description="every spooled file not yet acknowledged, oldest first")
    spool: SpoolSummary


class FileBatch(_Wire):
    file_ids: list[str] = Field(min_length=1, max_length=1000)


PUSHED_ID_BYTES = 32  # a file id: uuid4().hex


def push_frame(file_id: str, data: bytes | bytearray | memoryview) -> bytes:
    """A binary event-socket frame carrying one spooled file's bytes."""
    encoded = file_id.encode("ascii")
    if len(encoded) != PUSHED_ID_BYTES:
        raise ValueError(f"a pushed file's id must be {PUSHED_ID_BYTES} characters, not {file_id!r}")
    return encoded + data


def read_push_frame(frame: bytes) -> tuple[str, bytes]:
    """The file id and bytes of a ``push_frame``."""
    return frame[:PUSHED_ID_BYTES].decode("ascii"), frame[PUSHED_ID_BYTES:]


class Ack(_Wire):
    file_ids: list[str] = Field(min_length=1, max_length=10_000)
