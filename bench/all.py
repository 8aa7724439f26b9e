"""Run every benchmark and write one Markdown report: each figure beside its hardware bound and target.

Each script runs in its own process (so one's threads and caches cannot slow the next), with
``CAPTURERIG_BENCH_FIGURES`` pointing at a file where it records its figures (bench/_figures.py). A script
that fails is reported as failed with the tail of its output; the others still run.
Run: .venv/bin/python bench/all.py [--out bench-report.md] [--quick] [--only NAME ...]

Before and after a change: ``--baseline DIR`` (a checkout of the commit before, e.g. ``git worktree add``)
runs each bench against that checkout's code and against this one in turn (the same bench scripts, this
checkout's, so both sides are measured alike; ``--rounds N`` times, the order swapped each round so a drift
in the machine's load falls on both) and reports every figure's median before and after, and the change.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _figures import FIGURES_ENV, Figure

BENCH_DIR = Path(__file__).resolve().parent
NOISE_PCT = 3.0  # a change smaller than this is within a shared machine's noise


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
    Bench("colour", ("--raw",), ("--raw",)),  # RAW beside JPEG q92: the same script, its RAW case
    Bench("package", ("--gigabytes", "2"), ("--gigabytes", "0.5", "--runs", "1")),
    Bench("develop", ("--files", "8", "--megapixels", "12"), ("--files", "4", "--megapixels", "6", "--rounds", "3")),
    Bench("web", (), ()),
    Bench("qc", (), ("--takes", "24", "--per-kind", "2")),
    Bench("masks", (), ("--cameras", "8")),
    Bench("provenance", (), ("--repeat", "2")),
    Bench("faultproxy", (), ("--pings", "1000", "--megabytes", "64")),
    Bench("agents", (), ("--quick",)),
)


def _run(bench: Bench, quick: bool, figures_file: Path, tree: Path = BENCH_DIR.parent) -> tuple[bool, float, str]:
    """Run one bench script against the code of the checkout at ``tree``."""
    script = BENCH_DIR / f"{bench.name}.py"
    code_path = os.pathsep.join(str(tree / part) for part in ("src", "simulators", "."))
    env = {**os.environ, FIGURES_ENV: str(figures_file), "PYTHONPATH": code_path}
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


def _read_figures(path: Path) -> list[Figure]:
    return [Figure(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def comparison_markdown(before: list[Figure], after: list[Figure], baseline: Path, rounds: int, quick: bool) -> str:
    """Every figure's median before (``baseline``) and after (this checkout), and the change."""
    medians: dict[str, dict[tuple[str, str], float]] = {}
    for side, figures in (("before", before), ("after", after)):
        values: dict[tuple[str, str], list[float]] = defaultdict(list)
        for f in figures:
            values[(f.bench, f.name)].append(f.value)
        medians[side] = {key: statistics.median(v) for key, v in values.items()}
    units = {(f.bench, f.name): (f.unit, f.better) for f in after}
    lines = [
        "# capturerig benchmarks: before and after",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, load average "
        f"{os.getloadavg()[0]:.1f} at the end; before: {baseline}; {rounds} round(s) each, alternating; "
        f"{'quick' if quick else 'full'} runs; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        "| bench | figure | before | after | change | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for key, (unit, better) in units.items():
        old, new = medians["before"].get(key), medians["after"][key]
        if old is None or old == 0:
            lines.append(f"| {key[0]} | {key[1]} | {_cell(old, unit)} | {_cell(new, unit)} | | new |")
            continue
        change = 100.0 * (new - old) / old
        worse = change > 0 if better == "lower" else change < 0
        verdict = ("within noise" if abs(change) <= NOISE_PCT else
                   f"**worse by {abs(change):.1f} %**" if worse else f"better by {abs(change):.1f} %")
        lines.append(f"| {key[0]} | {key[1]} | {_cell(old, unit)} | {_cell(new, unit)} | {change:+.1f} % | {verdict} |")
    return "\n".join(lines) + "\n"


def _compare(benches: list[Bench], baseline: Path, rounds: int, quick: bool, out: Path) -> int:
    if not (baseline / "src" / "capturerig").is_dir():
        print(f"--baseline {baseline}: no src/capturerig there (give a checkout of the commit before)")
        return 2
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        files = {"before": Path(tmp) / "before.jsonl", "after": Path(tmp) / "after.jsonl"}
        for path in files.values():
            path.touch()
        trees = {"before": baseline.resolve(), "after": BENCH_DIR.parent}
        for round_index in range(rounds):
            order = ("before", "after") if round_index % 2 == 0 else ("after", "before")
            for bench in benches:
                for side in order:
                    print(f"== round {round_index + 1}, {side}: bench/{bench.name}.py", flush=True)
                    ok, _, output = _run(bench, quick, files[side], trees[side])
                    if not ok:
                        failed += 1
                        print("\n".join(output.strip().splitlines()[-15:]))
        report = comparison_markdown(_read_figures(files["before"]), _read_figures(files["after"]), baseline,
                                     rounds, quick)
    out.write_text(report, encoding="utf-8")
    print(report)
    print(f"report: {out} ({failed} bench runs failed)")
    return 0 if failed == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench-report.md"), help="where the Markdown goes")
    parser.add_argument("--quick", action="store_true", help="shorter runs of every bench (same figures)")
    parser.add_argument("--only", nargs="*", default=[], help="bench names to run (default: all)")
    parser.add_argument("--baseline", type=Path, help="a checkout of the commit before: report before and after")
    parser.add_argument("--rounds", type=int, default=2, help="with --baseline: runs of each side (default 2)")
    args = parser.parse_args()
    unknown = set(args.only) - {b.name for b in BENCHES}
    if unknown:
        parser.error(f"unknown bench {', '.join(sorted(unknown))} (known: {', '.join(b.name for b in BENCHES)})")
    benches = [b for b in BENCHES if not args.only or b.name in args.only]
    if args.baseline is not None:
        return _compare(benches, args.baseline, args.rounds, args.quick, args.out)
    runs: list[tuple[str, bool, float, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        figures_file = Path(tmp) / "figures.jsonl"
        figures_file.touch()
        for bench in benches:
            print(f"== bench/{bench.name}.py", flush=True)
            ok, elapsed, output = _run(bench, args.quick, figures_file)
            runs.append((bench.name, ok, elapsed, output))
        figures = _read_figures(figures_file)
    args.out.write_text(report_markdown(figures, runs, args.quick), encoding="utf-8")
    print(f"report: {args.out} ({len(figures)} figures, {sum(not ok for _, ok, _, _ in runs)} benches failed)")
    return 0 if all(ok for _, ok, _, _ in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
