"""`capturerig lights`: scenes, levels and blackout reach the (simulated) fixtures; Art-Net nodes are found."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from capturerig.cli import app
from capturerig.config import load_rig
from capturerig_sim import VirtualStudio, get_studio
from capturerig_sim.artnet_node import ArtNetNode

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("fast_sim")


def studio_of(studio_files: Path) -> VirtualStudio:
    rig = load_rig(studio_files / "rig.yaml")
    return get_studio("default", rig.config, rig.path.parent)


def test_set_levels_by_fixture(studio_files: Path) -> None:
    rig = str(studio_files / "rig.yaml")
    result = runner.invoke(app, ["lights", "set", "--rig", rig, "fx0=0.5", "fx3=intensity:1,red:1,blue:0.2"])
    assert result.exit_code == 0, result.output
    studio = studio_of(studio_files)
    assert studio.held_frame("dmx0", 1)[:5] == bytes([128, 255, 255, 255, 255])  # white at half
    assert studio.fixture_levels("fx3") == pytest.approx(
        {"intensity": 1.0, "red": 1.0, "green": 0.0, "blue": 0.2, "white": 0.0, "strobe": 0.0})
    assert studio.fixture_levels("fx1")["intensity"] == 0.0  # not named: dark


def test_scene_from_the_plan_then_blackout(studio_files: Path) -> None:
    rig, plan = str(studio_files / "rig.yaml"), str(studio_files / "plan.yaml")
    result = runner.invoke(app, ["lights", "scene", "--rig", rig, "--plan", plan, "l03"])
    assert result.exit_code == 0, result.output
    studio = studio_of(studio_files)
    assert {f"fx{i}": studio.fixture_levels(f"fx{i}")["red"] for i in range(8)} == {f"fx{i}": 1.0 for i in range(8)}
    result = runner.invoke(app, ["lights", "blackout", "--rig", rig])
    assert result.exit_code == 0, result.output
    assert not any(studio.held_frame("dmx0", 1))


def test_a_rig_scene_by_name_and_a_generated_plan_state(studio_files: Path) -> None:
    rig_path = studio_files / "rig.yaml"
    rig_path.write_text(rig_path.read_text() + textwrap.dedent("""\
        scenes:
          - {id: worklight, name: work light, levels: {'*': {intensity: 0.3, white: 1}}}
        """))
    result = runner.invoke(app, ["lights", "scene", "--rig", str(rig_path), "work light"])
    assert result.exit_code == 0, result.output
    assert studio_of(studio_files).fixture_levels("fx5")["intensity"] == pytest.approx(0.3, abs=0.003)
    plan = studio_files / "olat.yaml"
    plan.write_text("name: o\nsubject: {kind: object}\nposes: [{id: p0}]\nstations: [{id: s0, angle_deg: 0}]\n"
                    "camera_groups: [ring-low]\nlighting:\n  - {generator: olat}\n")
    result = runner.invoke(app, ["lights", "scene", "--rig", str(rig_path), "--plan", str(plan), "olat-fx6"])
    assert result.exit_code == 0, result.output
    studio = studio_of(studio_files)
    assert [studio.fixture_levels(f"fx{i}")["intensity"] for i in range(8)] == [0.0] * 6 + [1.0, 0.0]


@pytest.mark.parametrize(("args", "message"), [
    (["set", "fx9=1"], "has no fixture fx9"),
    (["set", "fx0=1.5"], "level 1.5 is outside 0..1"),
    (["set", "fx0=intensity:1,hue:3"], "hue"),
    (["set", "fx0"], "write FIXTURE=LEVEL"),
    (["scene", "nope"], "no scene 'nope'"),
])
def test_mistakes_are_clear_errors(studio_files: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["lights", args[0], "--rig", str(studio_files / "rig.yaml"), *args[1:]])
    assert result.exit_code == 2
    assert message in result.output


def test_discover_lists_an_art_net_node() -> None:
    with ArtNetNode("127.0.0.1", 0, short_name="sim-node", universes=(3,)) as node:
        result = runner.invoke(app, ["lights", "discover", "--bind", "127.0.0.1", "--to", "127.0.0.1",
                                     "--port", str(node.port), "--timeout", "0.5"])
    assert result.exit_code == 0, result.output
    assert "sim-node" in result.output
    assert f"127.0.0.1:{node.port}" in result.output
