"""Per-image checks on a simulated session with seeded picture faults: the share of each fault kind caught and
the false alarms on clean images (issue 22: >= 95 % caught per kind, <= 1 % false alarms), and the checks'
time per image (half-size decode, one core).

The session runs through the real engine on the simulated studio (every image ray-cast: the checks need real
pictures, a repeated test card would be stale by design), with picture faults scheduled on random cameras and
takes after a warm-up (a camera's first image in a lighting state and station has nothing of its own to be
compared with). The faults' truth is the schedule (a camera's k-th exposure is its k-th take: picture faults
never fail a take, and the bench checks every take was shot once), cross-checked with the sim ledger's record
of every fault that fired. Then ``capturerig qc`` runs over the session.

Run: .venv/bin/python bench/qc.py [--takes 100] [--cameras 16] [--per-kind 8] [--seed 22]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path

from typer.testing import CliRunner

os.environ.setdefault("CAPTURERIG_SIM_TIME_SCALE", "0")  # nothing sleeps: this bench is about the pictures

import yaml
from _figures import record  # bench/ is on sys.path when a script runs
from _sessions import bench_session

import capturerig
from capturerig.cli import app
from capturerig.plan import expand_plan
from capturerig_sim import get_studio
from capturerig_sim._image_faults import IMAGE_FAULT_KINDS
from capturerig_sim._ledger import LEDGER_ENV, read_ledger

DETECT_TARGET = 0.95
FALSE_ALARM_BOUND = 0.01
ROOM_LIGHT = 0.04  # house lights a little on: a late fire's dark frame is dim, not black
LIGHTS = textwrap.dedent("""\
    lighting:
      - {id: l00, levels: {"*": {intensity: 1.0, red: 1.0, green: 1.0, blue: 1.0, white: 1.0}}}
      - {id: l01, levels: {"*": {intensity: 0.5, red: 1.0, green: 1.0, blue: 1.0, white: 1.0}}}
      - {id: l02, levels: {fx0: {intensity: 1.0, white: 1.0}, fx1: {intensity: 1.0, white: 1.0},
                           fx7: {intensity: 1.0, white: 1.0}}}
      - {id: l03, levels: {"*": {intensity: 1.0, red: 1.0}}}
    """)


def plan_text(takes: int, groups: list[str]) -> str:
    """Poses x 2 stations x 4 lighting states, at least ``takes`` takes (a static mannequin: poses repeat)."""
    poses = max(1, -(-takes // 8))
    pose_lines = "".join(f"  - {{id: p{index:02d}, description: hold {index}}}\n" for index in range(poses))
    return ("name: qc-bench\nconsistency: take\nretries: 1\nsubject: {kind: object}\nposes:\n" + pose_lines
            + "stations:\n  - {id: s00, angle_deg: 0}\n  - {id: s01, angle_deg: 90}\n" + LIGHTS
            + f"brackets:\n  - {{id: b0, ev: 0}}\ncamera_groups: [{', '.join(groups)}]\n"
            + "settle: {lights_s: 0.0, turntable_s: 0.0}\n")


def schedule(cameras: list[str], takes: int, per_kind: int, warmup: int, seed: int) -> dict[tuple[str, int], str]:
    """(camera, take index) -> fault kind: ``per_kind`` of each, never two on one camera in neighbouring takes."""
    rng = random.Random(seed)
    chosen: dict[tuple[str, int], str] = {}
    for kind in IMAGE_FAULT_KINDS:
        placed = 0
        while placed < per_kind:
            camera, index = rng.choice(cameras), rng.randrange(warmup, takes)
            if any((camera, index + step) in chosen for step in (-1, 0, 1)):
                continue
            chosen[(camera, index)] = kind
            placed += 1
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--takes", type=int, default=100)
    parser.add_argument("--cameras", type=int, default=16, help="the first N cameras of the simulated studio")
    parser.add_argument("--per-kind", type=int, default=8, help="faults of each kind (8 kinds)")
    parser.add_argument("--seed", type=int, default=22)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="capturerig-bench-qc-") as tmp:
        work = Path(tmp)
        base = capturerig.load_rig()
        cameras = base.config.cameras[: args.cameras]
        rig_path = work / "rig.yaml"
        document = base.config.model_dump(mode="json", exclude_defaults=True)
        document["cameras"] = document["cameras"][: args.cameras]
        rig_path.write_text(yaml.safe_dump(document, sort_keys=False))
        plan_path = work / "plan.yaml"
        plan_path.write_text(plan_text(args.takes, sorted({c.group for c in cameras if c.group})))
        ledger = work / "ledger.jsonl"
        os.environ[LEDGER_ENV] = str(ledger)
        session = bench_session(rig_path, plan_path, work, 0)
        rig = session.folder.rig
        takes = expand_plan(rig.config, session.folder.plan.config)
        total = len(takes)
        truth = schedule([c.id for c in cameras], total, args.per_kind, warmup=8, seed=args.seed)
        studio = get_studio("default", rig.config, rig.path.parent)
        studio.room_light = ROOM_LIGHT
        for (camera, index), kind in truth.items():
            studio.faults.schedule(camera, kind, index - 1 if kind == "stale_file" else index)
        started = time.perf_counter()
        result = session.run()
        shot_s = time.perf_counter() - started
        journal = session.folder.journal
        attempts = {take.attempts for take in journal.takes().values()}
        session.close()
        if result.state != capturerig.RunState.DONE or attempts != {1}:
            sys.exit(f"the session did not shoot every take once ({result.state}, attempts {attempts})")
        fired = Counter(r["kind"] for r in read_ledger(ledger) if r.get("event") == "fault")
        report = work / "qc.json"
        started = time.perf_counter()
        outcome = CliRunner().invoke(app, ["qc", str(session.path), "--json", str(report)])
        qc_s = time.perf_counter() - started
        if outcome.exit_code not in (0, 1) or not report.is_file():
            sys.exit(f"capturerig qc failed: {outcome.output}")
        document = json.loads(report.read_text())
        order = {take.id: index for index, take in enumerate(takes)}
        caught: Counter[str] = Counter()
        failed: Counter[str] = Counter()  # of those caught, the ones a check failed (not only warned)
        by_check: dict[str, Counter[str]] = {kind: Counter() for kind in IMAGE_FAULT_KINDS}
        false_alarms, clean, seconds = [], 0, []
        for take in document["takes"]:
            index = order[take["take"]]
            for checked in take["files"]:
                seconds.append(checked["seconds"])
                kind = truth.get((checked["camera"], index))
                flagged = [c["check"] for c in checked["checks"] if c["verdict"] != "ok"]
                if kind is None:
                    clean += 1
                    if flagged:
                        false_alarms.append((take["take"], checked["camera"], flagged,
                                             [c["reason"] for c in checked["checks"] if c["verdict"] != "ok"]))
                elif flagged:
                    caught[kind] += 1
                    failed[kind] += checked["verdict"] == "fail"
                    by_check[kind].update(flagged)
    images = len(seconds)
    print(f"{len(cameras)} cameras x {total} takes = {images} images, {len(truth)} faulted; session shot in "
          f"{shot_s:.0f} s, qc over it in {qc_s:.1f} s")
    print(f"faults fired (sim ledger): {dict(sorted(fired.items()))}")
    for kind in IMAGE_FAULT_KINDS:
        scheduled = sum(1 for k in truth.values() if k == kind)
        share = caught[kind] / scheduled if scheduled else float("nan")
        checks = ", ".join(f"{name} {count}" for name, count in by_check[kind].most_common())
        print(f"  {kind:15s} caught {caught[kind]:3d} / {scheduled:3d} = {share:6.1%} ({failed[kind]} as fail)   "
              f"by: {checks}")
        record("qc", f"detected: {kind}", 100 * share, "%", target=100 * DETECT_TARGET, better="higher",
               note=f"{caught[kind]} of {scheduled}")
    print("(caught: a warn or a fail on the faulty file, from any check; 'by' counts each check that flagged it)")
    rate = len(false_alarms) / max(1, clean)
    print(f"false alarms on clean images: {len(false_alarms)} / {clean} = {rate:.2%}")
    for take_id, camera, flagged, reasons in false_alarms[:10]:
        print(f"  {take_id} {camera}: {', '.join(flagged)}: {reasons[0]}")
    record("qc", "false alarms on clean images", 100 * rate, "%", bound=100 * FALSE_ALARM_BOUND)
    median_ms = 1e3 * statistics.median(seconds)
    print(f"checks per image: median {median_ms:.1f} ms, p95 {1e3 * sorted(seconds)[int(0.95 * images)]:.1f} ms "
          "(half-size decode + measure + checks, CPU time of one core)")
    record("qc", "time per image (median, one core)", median_ms, "ms")
    print("the capture's critical path with the checks on against off (<= 1.02x): bench/session_walltime.py "
          "--qc-compare (figure 'session_walltime: demo plan, 16 cameras, images repeat: capture with checks on / "
          "off'); "
          "here the session ran them during the capture too (qc.on_fail ask) and `capturerig qc` again after it")


if __name__ == "__main__":
    main()
