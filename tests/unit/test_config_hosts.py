"""The rig's ``hosts:`` and ``agent_link:``: which host runs which camera, checked at load with file:line errors.

Each rig below starts with the same four cameras on lines 3-6, so its ``hosts:`` section starts on line 7.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from capturerig.config import (
    AgentLinkSettings,
    ConfigError,
    HostConfig,
    LoadedRig,
    default_rig_path,
    load_rig,
)

REST = ("body: sim-studio, group: ring, intrinsics: {width: 480, height: 640, fx: 700.0, fy: 700.0, cx: 239.5, "
        "cy: 319.5}, pose: {position: [2.0, 0.0, 1.0]}")
CAMERAS = "name: hosted\ncameras:\n" + "".join(
    f"  - {{id: cam{i}, driver: sim, serial: S{i}, {REST}}}\n" for i in range(4))
TWO_HOSTS = textwrap.dedent("""\
    hosts:
      - {name: agent1, address: 127.0.0.11, cameras: [cam0, cam1]}
      - {name: agent2, address: 127.0.0.12, cameras: [cam2, cam3]}
    """)


def write_rig(folder: Path, hosts: str) -> Path:
    path = folder / "rig.yaml"
    path.write_text(CAMERAS + textwrap.dedent(hosts), encoding="utf-8")
    return path


def rig_error(folder: Path, hosts: str) -> ConfigError:
    with pytest.raises(ConfigError) as excinfo:
        load_rig(write_rig(folder, hosts))
    return excinfo.value


def expect_only(error: ConfigError, line: int, field: str, *words: str) -> str:
    """The error is one problem, shown as ``rig.yaml:line field: ...`` and holding ``words``."""
    assert len(error.problems) == 1, f"expected a single problem; got:\n{error}"
    shown = str(error.problems[0])
    assert shown.startswith(f"{error.problems[0].file}:{line} {field}: "), shown
    assert Path(error.problems[0].file).name == "rig.yaml"
    for word in words:
        assert word in shown, f"{word!r} missing from {shown!r}"
    return shown


@pytest.fixture
def hosted(tmp_path: Path) -> LoadedRig:
    return load_rig(write_rig(tmp_path, TWO_HOSTS))


# --- what loads ----------------------------------------------------------------------------------------------


def test_a_rig_without_hosts_loads_as_before_with_every_camera_on_the_controller() -> None:
    rig = load_rig(default_rig_path()).config
    assert rig.hosts == ()
    assert rig.agent_link == AgentLinkSettings()
    assert all(rig.host_of(camera.id) is None for camera in rig.cameras)
    with pytest.raises(KeyError) as excinfo:
        rig.host("agent1")
    assert excinfo.value.args[0] == ("rig 'sim-studio' has no host 'agent1' "
                                     "(hosts: none: the rig file has no hosts: section)")


def test_each_camera_is_found_on_its_host_and_a_host_by_name(hosted: LoadedRig) -> None:
    rig = hosted.config
    assert [h.name for h in rig.hosts] == ["agent1", "agent2"]
    assert rig.host_of("cam1") == rig.host("agent1")
    assert rig.host_of("cam2") == rig.host("agent2")
    agent2 = rig.host("agent2")
    assert (agent2.port, agent2.url, agent2.loopback) == (8650, "http://127.0.0.12:8650", True)
    assert agent2.cameras == ("cam2", "cam3")
    with pytest.raises(KeyError) as excinfo:
        rig.host("agent3")
    assert excinfo.value.args[0] == "rig 'hosted' has no host 'agent3' (hosts: agent1, agent2)"


def test_agent_link_settings_load_from_the_rig(tmp_path: Path) -> None:
    rig = load_rig(write_rig(tmp_path, TWO_HOSTS + "agent_link: {heartbeat_s: 0.5, dead_after_s: 2, "
                                                   "max_clock_offset_ms: 2.5, spool_reserve_bytes: 0}\n")).config
    assert rig.agent_link == AgentLinkSettings(heartbeat_s=0.5, dead_after_s=2.0, max_clock_offset_ms=2.5,
                                               spool_reserve_bytes=0)


def test_a_host_off_loopback_with_a_token_file_loads(tmp_path: Path) -> None:
    rig = load_rig(write_rig(tmp_path, """\
        hosts:
          - {name: studio-pc1, address: 192.168.10.11, port: 9000, cameras: [cam0, cam1, cam2, cam3],
             token_file: tokens/studio-pc1.token}
        """)).config
    host = rig.host("studio-pc1")
    assert (host.loopback, host.url, host.token_file) == (False, "http://192.168.10.11:9000", "tokens/studio-pc1.token")


# --- what is refused at load, at its line ------------------------------------------------------------------


def test_a_host_naming_a_camera_the_rig_lacks_is_refused_at_that_camera(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """\
        hosts:
          - {name: agent1, address: 127.0.0.11, cameras: [cam0, cam1]}
          - {name: agent2, address: 127.0.0.12, cameras: [cam2, cam3, cam4]}
        """)
    expect_only(error, 9, "hosts[1].cameras[2]", "no camera 'cam4'", "cam0, cam1, cam2, cam3")


def test_a_camera_on_two_hosts_is_refused_naming_both(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """\
        hosts:
          - name: agent1
            address: 127.0.0.11
            cameras: [cam0, cam1, cam2]
          - name: agent2
            address: 127.0.0.12
            cameras:
              - cam2
              - cam3
        """)
    expect_only(error, 14, "hosts[1].cameras[0]", "camera 'cam2'", "host 'agent1' (hosts[0], line 10)",
                "host 'agent2'", "exactly one host")


def test_a_camera_listed_twice_on_one_host_is_refused(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """\
        hosts:
          - {name: agent1, address: 127.0.0.11, cameras: [cam0, cam1, cam2, cam3, cam1]}
        """)
    expect_only(error, 8, "hosts[0].cameras[4]", "'cam1' is listed twice for host 'agent1'")


def test_a_camera_on_no_host_is_refused_at_the_cameras_line(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """\
        hosts:
          - {name: agent1, address: 127.0.0.11, cameras: [cam0, cam1]}
          - {name: agent2, address: 127.0.0.12, cameras: [cam3]}
        """)
    expect_only(error, 5, "cameras[2].id", "camera 'cam2' is on no host", "hosts: agent1, agent2")


def test_two_hosts_with_one_name_are_refused(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """\
        hosts:
          - {name: agent1, address: 127.0.0.11, cameras: [cam0, cam1]}
          - {name: agent1, address: 127.0.0.12, cameras: [cam2, cam3]}
        """)
    expect_only(error, 9, "hosts[1].name", "duplicate host name 'agent1'", "hosts[0], line 8")


def test_two_hosts_on_one_address_and_port_are_refused(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """\
        hosts:
          - {name: agent1, address: 127.0.0.11, cameras: [cam0, cam1]}
          - {name: agent2, address: 127.0.0.11, port: 8650, cameras: [cam2, cam3]}
        """)
    expect_only(error, 9, "hosts[1].address", "127.0.0.11:8650", "host 'agent1'", "line 8")


def test_two_hosts_on_one_address_with_their_own_ports_load(tmp_path: Path) -> None:
    rig = load_rig(write_rig(tmp_path, """\
        hosts:
          - {name: agent1, address: 127.0.0.11, cameras: [cam0, cam1]}
          - {name: agent2, address: 127.0.0.11, port: 8651, cameras: [cam2, cam3]}
        """)).config
    assert rig.host("agent2").url == "http://127.0.0.11:8651"


def test_a_host_off_loopback_without_a_token_file_is_refused(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """\
        hosts:
          - {name: agent1, address: 127.0.0.11, cameras: [cam0, cam1]}
          - {name: agent2, address: 10.0.0.12, cameras: [cam2, cam3]}
        """)
    expect_only(error, 9, "hosts[1].token_file", "host 'agent2' is at 10.0.0.12",
                "an agent on a non-loopback address refuses to start without a token")


@pytest.mark.parametrize("address", ["studio-pc2", "studio-pc2.local", "10.0.0", "127.0.0.011", "0.0.0.0",
                                     "239.255.0.1"])
def test_an_address_that_is_not_one_hosts_dotted_ipv4_is_refused(tmp_path: Path, address: str) -> None:
    error = rig_error(tmp_path, f"""\
        hosts:
          - {{name: agent1, address: 127.0.0.11, cameras: [cam0, cam1]}}
          - {{name: agent2, address: '{address}', cameras: [cam2, cam3]}}
        """)
    expect_only(error, 9, "hosts[1].address", address)


def test_a_host_name_that_is_not_an_id_is_refused(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """\
        hosts:
          - {name: agent 1, address: 127.0.0.11, cameras: [cam0, cam1, cam2, cam3]}
        """)
    expect_only(error, 8, "hosts[0].name", "'agent 1' is not valid")


def test_a_host_without_cameras_is_refused(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """\
        hosts:
          - {name: agent1, address: 127.0.0.11, cameras: [cam0, cam1, cam2, cam3]}
          - {name: agent2, address: 127.0.0.12, cameras: []}
        """)
    expect_only(error, 9, "hosts[1].cameras", "at least 1 item")


def test_dead_after_not_above_the_heartbeat_is_refused_at_its_line(tmp_path: Path) -> None:
    error = rig_error(tmp_path, TWO_HOSTS + "agent_link:\n  heartbeat_s: 2\n  dead_after_s: 2\n")
    expect_only(error, 12, "agent_link.dead_after_s", "2 s must be above heartbeat_s (2 s)")


def test_a_heartbeat_above_the_default_dead_after_is_refused(tmp_path: Path) -> None:
    error = rig_error(tmp_path, TWO_HOSTS + "agent_link:\n  heartbeat_s: 5\n")
    expect_only(error, 10, "agent_link.dead_after_s", "3 s must be above heartbeat_s (5 s)")


@pytest.mark.parametrize(("setting", "words"), [
    ("heartbeat_s: 0.01", "greater than or equal to 0.1"),
    ("dead_after_s: 120", "less than or equal to 60"),
    ("max_clock_offset_ms: 0", "greater than 0"),
    ("spool_reserve_bytes: -1", "greater than or equal to 0"),
])
def test_agent_link_values_out_of_range_are_refused(tmp_path: Path, setting: str, words: str) -> None:
    error = rig_error(tmp_path, TWO_HOSTS + f"agent_link:\n  {setting}\n")
    expect_only(error, 11, f"agent_link.{setting.split(':')[0]}", words)


# --- the host's token ---------------------------------------------------------------------------------------


def _host(token_file: str | None) -> HostConfig:
    return HostConfig(name="agent1", address="127.0.0.11", cameras=("cam0",), token_file=token_file)


def test_the_token_is_read_stripped_from_beside_the_rig(tmp_path: Path) -> None:
    (tmp_path / "agent1.token").write_text("  s3cret-token-0123456789\n", encoding="utf-8")
    assert _host("agent1.token").read_token(tmp_path) == "s3cret-token-0123456789"
    assert _host(None).read_token(tmp_path) is None


def token_error(folder: Path) -> str:
    """What read_token says about ``folder/agent1.token``, checked to name that file."""
    with pytest.raises(ConfigError) as excinfo:
        _host("agent1.token").read_token(folder)
    (problem,) = excinfo.value.problems
    assert problem.file == str(folder / "agent1.token")
    assert str(problem).startswith(f"{folder / 'agent1.token'} ")
    return problem.message


def test_a_missing_token_file_names_the_host_and_the_file(tmp_path: Path) -> None:
    assert token_error(tmp_path).startswith("host 'agent1': its token_file does not exist; write at least 16")


def test_a_short_token_is_refused(tmp_path: Path) -> None:
    (tmp_path / "agent1.token").write_text("short\n", encoding="utf-8")
    assert token_error(tmp_path).startswith("host 'agent1': its token has 5 characters, fewer than 16")


def test_an_unreadable_token_file_names_the_host_and_the_file(tmp_path: Path) -> None:
    (tmp_path / "agent1.token").mkdir()
    assert token_error(tmp_path).startswith("host 'agent1': cannot read its token_file")
