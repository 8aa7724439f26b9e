"""The capture agent: the cameras of one host behind the agent link (``capturerig agent``)."""

from capturerig.agent._agent import Agent, AgentSettings
from capturerig.agent._app import agent_app
from capturerig.agent._serve import AgentRefused, AgentServer, serve_agent
from capturerig.agent._spool import Spool, SpoolError

__all__ = ["Agent", "AgentRefused", "AgentServer", "AgentSettings", "Spool", "SpoolError", "agent_app",
           "serve_agent"]
