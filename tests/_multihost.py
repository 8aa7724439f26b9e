"""A rig with capture hosts for tests: the example studio's 16 cameras on agents at 127.0.0.x (free ports)."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.conftest import with_test_card_images

__all__ = ["TRIGGER_BOX", "free_port", "multihost_rig"]

TRIGGER_BOX = "trigger:\n  id: trig0\n  driver: sim\n  params: {studio: default}\n"


def free_port(address: str) -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


def multihost_rig(studio_files: Path, hosts: dict[str, str], token: str, trigger_box: bool = True) -> Path:
    """The example studio's rig (in ``studio_files``) with its 16 cameras split evenly over ``hosts`` (name ->
    address), each host's token in a file beside the rig; without ``trigger_box`` the cameras fire in software."""
    rig_path = studio_files / "rig.yaml"
    text = rig_path.read_text()
    if not trigger_box:
        assert TRIGGER_BOX in text
        text = text.replace(TRIGGER_BOX, "")
    per_host = 16 // len(hosts)
    lines = ["hosts:"]
    for index, (name, address) in enumerate(hosts.items()):
        (studio_files / f"{name}.token").write_text(token + "\n")
        cameras = ", ".join(f"cam{c:02d}" for c in range(per_host * index, per_host * (index + 1)))
        lines.append(f"  - {{name: {name}, address: {address}, port: {free_port(address)}, cameras: [{cameras}], "
                     f"token_file: {name}.token}}")
    rig_path.write_text(text + "\n".join(lines) + "\n")
    return with_test_card_images(rig_path)
