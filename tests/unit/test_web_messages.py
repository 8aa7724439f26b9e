"""The panel's message vocabulary is one list: every kind the server sends, the views reduce and the page
handles is an engine event or one of the panel's own messages (capturerig.web._messages)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from capturerig import engine
from capturerig.web._messages import ENGINE_EVENTS, PANEL_MESSAGES, message_kinds
from tests.web._stream import load_stream

SRC = Path(__file__).resolve().parents[2] / "src" / "capturerig"
PANEL_JS = SRC / "web" / "static" / "panel.js"


def _kinds_in_python(path: Path) -> set[str]:
    """Kinds a module names: ``{"kind": "X"}`` literals and comparisons of a ``kind`` with "X" (or a tuple)."""
    found: set[str] = set()

    def is_kind(node: ast.expr) -> bool:
        return (isinstance(node, ast.Name) and node.id == "kind") or (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
            and bool(node.args) and isinstance(node.args[0], ast.Constant) and node.args[0].value == "kind")

    def strings(node: ast.expr) -> list[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value]
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return [s for element in node.elts for s in strings(element)]
        return []

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "kind" and value is not None:
                    found.update(strings(value))
        elif isinstance(node, ast.Compare) and is_kind(node.left):
            for comparator in node.comparators:
                found.update(strings(comparator))
    return found


def test_the_vocabulary_is_every_engine_event_and_every_panel_message() -> None:
    events = {name for name in engine.__all__ if isinstance(getattr(engine, name), type)
              and issubclass(getattr(engine, name), engine.Event) and name != "Event"}
    assert {c.__name__ for c in ENGINE_EVENTS} == events
    assert {"StateChanged", "PoseStarted", "TakeStarted", "FileStored", "TakeVerified"} <= events
    assert message_kinds() == events | {c.__name__ for c in PANEL_MESSAGES}
    assert not events & {c.__name__ for c in PANEL_MESSAGES}, "a panel message must not shadow an engine event"


def test_every_kind_the_server_names_is_in_the_vocabulary() -> None:
    modules = sorted(p for folder in ("web", "cli") for p in (SRC / folder).rglob("*.py"))
    unknown = {str(p.relative_to(SRC)): sorted(_kinds_in_python(p) - message_kinds()) for p in modules}
    assert {module: kinds for module, kinds in unknown.items() if kinds} == {}


def test_the_views_reduce_only_kinds_of_the_vocabulary() -> None:
    reduced = _kinds_in_python(SRC / "web" / "_views.py")
    assert reduced - message_kinds() == set()
    assert {"RunStarted", "PoseConfirmRequest", "TakeStarted", "DeviceStatus", "LightsSet"} <= reduced


def test_every_kind_the_page_handles_is_in_the_vocabulary() -> None:
    script = PANEL_JS.read_text(encoding="utf-8")
    handled = set(re.findall(r"""kind\s*[!=]==\s*["'](\w+)["']""", script))
    handled |= set(re.findall(r"""case\s+["'](\w+)["']\s*:""", script))
    assert handled == {"Snapshot", "ClientLagged", "ViewPatch"}  # the views come reduced; events are not re-reduced
    assert handled <= message_kinds()


def test_every_kind_in_a_recorded_session_is_in_the_vocabulary() -> None:
    kinds = {message["kind"] for message in load_stream()}
    assert kinds - message_kinds() == set()
    assert {"RunStarted", "PoseConfirmRequest", "PoseConfirmAnswered", "RunFinished", "DeviceStatus",
            "PreflightStarted", "PreflightFinished", "LightsSet", "PoseStarted", "FileStored"} <= kinds
