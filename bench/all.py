"""Run every benchmark and write one Markdown report: each figure beside its hardware bound and target.

Each script runs in its own process (so one's threads and caches cannot slow the next), with
``CAPTURERIG_BENCH_FIGURES`` pointing at a file where it records its figures (bench/_figures.py). A script
that fails is reported as failed with the tail of its output; the others still run.
Run: .venv/bin/python bench/all.py [--out bench-report.md] [--quick] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _figures import FIGURES_ENV, Figure

BENCH_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Bench:
    name: str
    args: tuple[str, ...]  # full run
    quick_args: tuple[str, ...]  # a shorter run with the same figures


BENCHES = (
    Bench("session_walltime", ("--runs", "3", "--cameras", "16", "64", "128"),
          ("--runs", "1", "--cameras", "16", "64", "--plans", "light-stage")),
    Bench("olat_hold", ("--runs", "3"), ("--runs", "1")),
    Bench("trigger", (), ("--fires", "200")),
    Bench("lights", ("--seconds", "10"), ("--seconds", "3")),
    Bench("serial_lights", ("--seconds", "10"), ("--seconds", "3")),
    Bench("calibration", (), ("--quick",)),
    Bench("colour", (), ()),
    Bench("package", ("--gigabytes", "2"), ("--gigabytes", "0.5", "--runs", "1")),
    Bench("web", (), ()),
)


def _run(bench: Bench, quick: bool, figures_file: Path) -> tuple[bool, float, str]:
    script = BENCH_DIR / f"{bench.name}.py"
    env = {**os.environ, FIGURES_ENV: str(figures_file)}
    command = [sys.executable, str(script), *(bench.quick_args if quick else bench.args)]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    output = done.stdout + done.stderr
    sys.stdout.write(done.stdout)
    return done.returncode == 0, elapsed, output


def _cell(value: float | None, unit: str) -> str:
    return "" if value is None else f"{value:.4g} {unit}"


def _verdict(figure: Figure) -> str:
    meets = figure.meets_target
    return "" if meets is None else ("meets" if meets else "**misses**")


def report_markdown(figures: list[Figure], runs: list[tuple[str, bool, float, str]], quick: bool) -> str:
    load = os.getloadavg()[0]
    lines = [
        "# capturerig benchmarks",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {load:.1f} at the end; {'quick' if quick else 'full'} runs; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        "| bench | figure | measured | hardware bound | target | verdict | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        target = "" if f.target is None else f"{'<=' if f.better == 'lower' else '>='} {f.target:.4g} {f.unit}"
        lines.append(f"| {f.bench} | {f.name} | {_cell(f.value, f.unit)} | {_cell(f.bound, f.unit)} | {target} | "
                     f"{_verdict(f)} | {f.note} |")
    lines += ["", "| bench | ran | wall time |", "|---|---|---|"]
    lines += [f"| {name} | {'ok' if ok else '**failed**'} | {elapsed:.0f} s |" for name, ok, elapsed, _ in runs]
    for name, ok, _, output in runs:
        if not ok:
            tail = "\n".join(output.strip().splitlines()[-15:])
            lines += ["", f"## {name} failed", "", "```", tail, "```"]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench-report.md"), help="where the Markdown goes")
    parser.add_argument("--quick", action="store_true", help="shorter runs of every bench (same figures)")
    parser.add_argument("--only", nargs="*", default=[], help="bench names to run (default: all)")
    args = parser.parse_args()
    unknown = set(args.only) - {b.name for b in BENCHES}
    if unknown:
        parser.error(f"unknown bench {', '.join(sorted(unknown))} (known: {', '.join(b.name for b in BENCHES)})")
    runs: list[tuple[str, bool, float, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        figures_file = Path(tmp) / "figures.jsonl"
        figures_file.touch()
        for bench in BENCHES:
            if args.only and bench.name not in args.only:
                continue
            print(f"== bench/{bench.name}.py", flush=True)
            ok, elapsed, output = _run(bench, args.quick, figures_file)
            runs.append((bench.name, ok, elapsed, output))
        figures = [Figure(**json.loads(line)) for line in figures_file.read_text().splitlines() if line.strip()]
    args.out.write_text(report_markdown(figures, runs, args.quick), encoding="utf-8")
    print(f"report: {args.out} ({len(figures)} figures, {sum(not ok for _, ok, _, _ in runs)} benches failed)")
    return 0 if all(ok for _, ok, _, _ in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
