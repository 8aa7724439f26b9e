"""The trigger box firmware: its parser's C unit tests, the AVR build, and the simulator speaking the same way."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from capturerig_sim.triggerbox_sim import ERROR_TEXTS, TriggerBoxLogic

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware-config" / "triggerbox"
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]


def _compile(compiler: str, args: list[str], out: Path) -> Path:
    found = shutil.which(compiler)
    assert found, f"{compiler} is not installed; scripts/bootstrap.sh installs it (apt)"
    result = subprocess.run([found, *args, "-o", str(out)], cwd=FIRMWARE, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, f"{compiler} failed:\n{result.stdout}{result.stderr}"
    return out


def test_parser_unit_tests_pass_on_the_host(tmp_path: Path) -> None:
    binary = _compile("gcc", [*CFLAGS, "test/test_parser.c", "parser.c"], tmp_path / "test_parser")
    result = subprocess.run([str(binary)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, f"firmware parser tests failed:\n{result.stdout}{result.stderr}"
    assert ", 0 failed" in result.stdout


def test_firmware_cross_compiles_for_the_atmega2560(tmp_path: Path) -> None:
    elf = _compile("avr-gcc", ["-mmcu=atmega2560", "-DF_CPU=16000000UL", "-std=c99", "-Os", "-Wall", "-Wextra",
                               "-Werror", "board_avr.c", "parser.c"], tmp_path / "triggerbox.elf")
    size = subprocess.run(["avr-size", str(elf)], capture_output=True, text=True, timeout=60, check=True).stdout
    text, data, bss = (int(v) for v in size.splitlines()[1].split()[:3])
    assert text + data < 256 * 1024, "does not fit the ATmega2560's flash"
    assert data + bss < 6 * 1024, "leaves less than 2 KB of the 8 KB RAM for the stack"


# One script for the C parser (through test/tb_repl.c) and the Python simulator's logic: '@N' sets the box
# clock, '%SYNC n' is a flash-sync edge, '%TICK' runs the watchdog, '%PINS' prints the output lines.
SCRIPT = """\
ID?
PING
CLOCK?
STATE?
HELLO
fire
ID? now
FOCUS
FOCUS 0x10
FOCUS 0xf
%PINS
FOCUS 99999999999
FOCUS -1
FOCUS 0x
DELAY 3 1200
DELAY 0x2 0x3E8
DELAY 4 1
DELAY 0 1000001
DELAY 0
DELAY?
PULSE 999
PULSE 5000
WDT 99
WDT 100
SYNC?
FIRE 0
FIRE 1 2
A B C D E
<spaces>
@1000
FIRE 0xE
%PINS
@2000
%PINS
FIRE
@2200
%PINS
%SYNC 1
%SYNC 3
%SYNC 1
%SYNC 0
SYNC?
@7000
%PINS
@9000
%PINS
STATE?
RELEASE
@9000
FOCUS 0x3
@100000
%TICK
@109001
%TICK
%PINS
%TICK
PING
XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX
PING
@4294967200
FIRE 0x1
@200
%PINS
%SYNC 0
SYNC?
""".replace("<spaces>", "     ")


def _run_python(script: str, outputs: int, serial: str) -> list[str]:
    logic = TriggerBoxLogic(outputs, serial, 0)
    now = 0
    lines = []
    for line in script.splitlines():
        if line.startswith("@"):
            now = int(line[1:])
        elif line.startswith("%SYNC "):
            logic.sync_edge(int(line[6:]), now)
        elif line == "%TICK":
            notice = logic.tick(now)
            if notice is not None:
                lines.append(notice)
        elif line == "%PINS":
            lines.append(f"PINS focus=0x{logic.focus_mask(now):04X} shutter=0x{logic.shutter_mask(now):04X}")
        else:
            for byte in (line + "\n").encode():
                reply = logic.feed(byte, now)
                if reply is not None:
                    lines.append(reply)
    return lines


def test_simulator_replies_exactly_as_the_firmware(tmp_path: Path) -> None:
    repl = _compile("gcc", [*CFLAGS, "test/tb_repl.c", "parser.c"], tmp_path / "tb_repl")
    firmware = subprocess.run([str(repl), "4", "TBCONF01"], input=SCRIPT, capture_output=True, text=True,
                              timeout=60, check=True).stdout.splitlines()
    simulator = _run_python(SCRIPT, 4, "TBCONF01")
    assert simulator == firmware
    # the script reaches every error code and the watchdog, so the comparison covers them
    codes = {int(line.split()[1]) for line in firmware if line.startswith("ERR ")}
    assert codes == set(ERROR_TEXTS)
    assert any(line.startswith("! WATCHDOG") for line in firmware)
    assert "SYNC 1:1200 3:1200" in firmware  # edges after a busy FIRE still count from the first


@pytest.mark.parametrize("outputs", [1, 16])
def test_identify_reports_the_outputs_the_box_has(tmp_path: Path, outputs: int) -> None:
    repl = _compile("gcc", [*CFLAGS, "test/tb_repl.c", "parser.c"], tmp_path / "tb_repl")
    reply = subprocess.run([str(repl), str(outputs), "TB7"], input="ID?\n", capture_output=True, text=True,
                           timeout=60, check=True).stdout.strip()
    assert reply == _run_python("ID?\n", outputs, "TB7")[0] == f"ID capturerig-trigger 1.0.0 TB7 {outputs}"
