"""Cameras on other capture hosts, through the agent link (HTTP + WebSocket, version 1).

The wire (``_wire``) is shared by both ends: the controller's ``AgentLink`` and ``RemoteCamera`` here, and
the agent itself (``capturerig.agent``).
"""

from capturerig.devices.remote._camera import RemoteCamera
from capturerig.devices.remote._check import HostReport, check_hosts
from capturerig.devices.remote._coalesce import Coalescer
from capturerig.devices.remote._link import AgentLink
from capturerig.devices.remote._links import agent_link, release_link
from capturerig.devices.remote._wire import (
    API,
    BOOT_HEADER,
    PROTOCOL_VERSION,
    Ack,
    AgentEvent,
    AgentSnapshot,
    CameraView,
    Command,
    CommandName,
    CommandReplies,
    CommandReply,
    Commands,
    FileBatch,
    Hello,
    SpooledFile,
    SpoolPlace,
    SpoolSummary,
    push_frame,
    read_push_frame,
)

__all__ = [
    "API",
    "BOOT_HEADER",
    "PROTOCOL_VERSION",
    "Ack",
    "AgentEvent",
    "AgentLink",
    "AgentSnapshot",
    "CameraView",
    "Coalescer",
    "Command",
    "CommandName",
    "CommandReplies",
    "CommandReply",
    "Commands",
    "FileBatch",
    "Hello",
    "HostReport",
    "RemoteCamera",
    "SpoolPlace",
    "SpoolSummary",
    "SpooledFile",
    "agent_link",
    "check_hosts",
    "push_frame",
    "read_push_frame",
    "release_link",
]
