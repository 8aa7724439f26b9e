"""Where an agent keeps its files: preflight asks each host (``GET /v1/spool``) and gets the folder its kept
copies are in; an agent that deletes acknowledged files names none, and one from before the endpoint (404)
is a host whose files are simply read from the session, not a host refused."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import capturerig
from capturerig.agent import serve_agent
from capturerig.devices.remote import AgentLink, check_hosts
from capturerig.engine import capturerig_version
from tests._multihost import multihost_rig

pytestmark = pytest.mark.usefixtures("fast_sim")

HOSTS = {"agent1": "127.0.0.11", "agent2": "127.0.0.12"}
TOKEN = "spool-place-token-0123456789"


def test_preflight_learns_where_each_host_keeps_its_files_and_none_where_it_deletes_them(
        studio_files: Path, tmp_path: Path) -> None:
    rig = capturerig.load_rig(multihost_rig(studio_files, HOSTS, TOKEN))
    spool = tmp_path / "spool"
    keeping = serve_agent(rig, "agent1", TOKEN, spool, capturerig_version())  # the rig's default: keep
    deleting = serve_agent(rig, "agent2", TOKEN, spool, capturerig_version(), keep_acknowledged=False)
    try:
        reports = {r.host: r for r in check_hosts(rig.config, rig.path.parent, capturerig_version(), 5.0)}
    finally:
        keeping.close()
        deleting.close()
    assert all(r.problem is None for r in reports.values()), [r.problem for r in reports.values()]
    assert reports["agent1"].kept_files_dir == str((spool / "agent1" / "files").resolve())
    assert reports["agent2"].spool is not None
    assert reports["agent2"].spool.files_dir == str((spool / "agent2" / "files").resolve())
    assert reports["agent2"].kept_files_dir is None


class _OldAgent(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_error(404, "Not Found")

    def log_message(self, format: str, *args: object) -> None:
        return  # quiet: the test reads the answers, not the log


@pytest.fixture
def old_agent() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OldAgent)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_agent_older_than_the_spool_endpoint_says_nothing_and_is_not_an_error(old_agent: str) -> None:
    link = AgentLink("old", old_agent, None)
    try:
        assert link.spool_place(2.0) is None
    finally:
        link.close()
