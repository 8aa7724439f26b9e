"""Per-image checks on a simulated session with seeded picture faults: the share of each fault kind caught and
the false alarms on clean images (issue 22: >= 95 % caught per kind, <= 1 % false alarms), and the checks'
time per image (half-size decode, one core).

The session runs through the real engine on the simulated studio (every image ray-cast: the checks need real
pictures, a repeated test card would be stale by design), with picture faults scheduled on random cameras and
takes after a warm-up (a camera's first image in a lighting state and station has nothing of its own to be
compared with). The faults' truth is the schedule (a camera's k-th exposure is its k-th take: picture faults
never fail a take, and the bench checks every take was shot once), cross-checked with the sim ledger's record
of every fault that fired. Then ``capturerig qc`` runs over the session.

A live subject (a person, not a mannequin: it sways up to ~1 cm and turns up to ~1.5 deg between takes, and
stands up to 3 cm / 5 deg elsewhere at each new pose; rig ``simulation.live_subject``) is shot with the same
plan and fault schedule, the takes 2 s apart. The sim camera does not yet hand the exposure's take and time to
the renderer, so this run renders each exposure directly as the sim camera does (``faulty_image``; a stale file
is the previous file's bytes, a silent fixture the previous take's light, a late fire the fixtures dark) and
feeds the files to the same ``QcRunner`` that ``capturerig qc`` uses, in take order, with the same subject
regions (the capture volume through the rig's nominal geometry: ``capturerig.qc.subject_regions``; "moved"
measures the view outside them). ``--direct-still`` shoots the still subject the same way, a control for that
path.

Run: .venv/bin/python bench/qc.py [--takes 100] [--cameras 16] [--per-kind 8] [--bumped 24] [--seed 22]
     [--still | --live]
     [--direct-still]
"""

from __future__ import annotations

import argparse
import hashlib
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
from typing import Any

from typer.testing import CliRunner

os.environ.setdefault("CAPTURERIG_SIM_TIME_SCALE", "0")  # nothing sleeps: this bench is about the pictures

import yaml
from _figures import record  # bench/ is on sys.path when a script runs
from _sessions import bench_session

import capturerig
from capturerig.cli import app
from capturerig.config import PlanConfig, RigConfig
from capturerig.lighting import frames_for_condition
from capturerig.plan import Take, expand_plan
from capturerig.qc import CHECKS, QcFile, QcRunner, rig_volume, session_views, subject_regions
from capturerig_sim import encode_jpeg, get_studio
from capturerig_sim._image_faults import IMAGE_FAULT_KINDS, faulty_image
from capturerig_sim._ledger import LEDGER_ENV, read_ledger
from capturerig_sim.render import live_subject_pose

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
LIVE = {"seed": 22}  # rig simulation.live_subject: the defaults (sway 10 mm / 1.5 deg, new pose 30 mm / 5 deg)
TAKE_S = 2.0  # studio seconds between two triggers of the live run (the subject sways in between)


def plan_text(takes: int, groups: list[str]) -> str:
    """Poses x 2 stations x 4 lighting states, at least ``takes`` takes (a static mannequin: poses repeat)."""
    poses = max(1, -(-takes // 8))
    pose_lines = "".join(f"  - {{id: p{index:02d}, description: hold {index}}}\n" for index in range(poses))
    return ("name: qc-bench\nconsistency: take\nretries: 1\nsubject: {kind: object}\nposes:\n" + pose_lines
            + "stations:\n  - {id: s00, angle_deg: 0}\n  - {id: s01, angle_deg: 90}\n" + LIGHTS
            + f"brackets:\n  - {{id: b0, ev: 0}}\ncamera_groups: [{', '.join(groups)}]\n"
            + "settle: {lights_s: 0.0, turntable_s: 0.0}\n")


def schedule(cameras: list[str], takes: int, per_kind: int, warmup: int, seed: int,
             bumped: int | None = None) -> dict[tuple[str, int], str]:
    """(camera, take index) -> fault kind: ``per_kind`` of each (``bumped`` of that kind when given), never two on
    one camera in neighbouring takes."""
    rng = random.Random(seed)
    chosen: dict[tuple[str, int], str] = {}
    for kind in IMAGE_FAULT_KINDS:
        placed = 0
        wanted = bumped if kind == "bumped" and bumped is not None else per_kind
        if wanted * 3 > len(cameras) * (takes - warmup):
            sys.exit(f"{wanted} {kind} faults do not fit {len(cameras)} cameras x {takes - warmup} takes")
        while placed < wanted:
            camera, index = rng.choice(cameras), rng.randrange(warmup, takes)
            if any((camera, index + step) in chosen for step in (-1, 0, 1)):
                continue
            chosen[(camera, index)] = kind
            placed += 1
    return chosen


def write_inputs(work: Path, cameras: int, takes: int, live: bool = False) -> tuple[Path, Path]:
    """The bench's rig (the first ``cameras`` of the studio; ``live``: a live subject) and plan files."""
    base = capturerig.load_rig()
    rig_path = work / ("rig-live.yaml" if live else "rig.yaml")
    document = base.config.model_dump(mode="json", exclude_defaults=True)
    document["cameras"] = document["cameras"][:cameras]
    if live:
        document["simulation"] = {**document.get("simulation", {}), "live_subject": LIVE}
    rig_path.write_text(yaml.safe_dump(document, sort_keys=False))
    plan_path = work / "plan.yaml"
    groups = sorted({c.group for c in base.config.cameras[:cameras] if c.group})
    plan_path.write_text(plan_text(takes, groups))
    return rig_path, plan_path


def _noise_seed(camera_id: str, index: int) -> int:
    return int.from_bytes(hashlib.sha256(f"qc-bench:{camera_id}:{index}".encode()).digest()[:8], "little")


def shoot_direct(rig: RigConfig, base_dir: Path, takes: tuple[Take, ...], truth: dict[tuple[str, int], str],
                 out: Path) -> dict[str, list[QcFile]]:
    """Every take's JPEGs as the sim camera renders them (the faults of ``truth`` included), written under
    ``out``; the files per take id, in take order. A live rig's subject takes its pose per trigger."""
    previous: dict[str, bytes] = {}
    shot: dict[str, list[QcFile]] = {}
    lights = [frames_for_condition(rig, take.lighting, base_dir) for take in takes]
    for index, take in enumerate(takes):
        pose = live_subject_pose(rig, take.id, index * TAKE_S)  # STILL unless the rig's subject is live
        files = []
        for camera_id in take.cameras:
            camera = rig.camera(camera_id)
            kind = truth.get((camera_id, index))
            frames = lights[index]
            if kind == "silent_fixture" and index > 0:
                frames = lights[index - 1]  # the previous state's light: its fixtures did not change
            elif kind == "late_fire":  # after the flash: the fixtures dark (the house lights stay)
                frames = {key: bytes(len(frame)) for key, frame in frames.items()}
            if kind == "stale_file" and camera_id in previous:
                data = previous[camera_id]  # the body handed over its last file again
            else:
                faults = frozenset({kind}) if kind else frozenset()
                data = encode_jpeg(faulty_image(camera, rig, frames, take.station.angle_deg, {}, base_dir,
                                                _noise_seed(camera_id, index), faults, room_light=ROOM_LIGHT,
                                                subject_pose=pose))
            previous[camera_id] = data
            path = out / camera_id / f"{take.id.replace('/', '_')}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            files.append(QcFile(path, camera_id, "jpeg"))
        shot[take.id] = files
    return shot


def check_direct(rig: RigConfig, plan: PlanConfig, takes: tuple[Take, ...],
                 shot: dict[str, list[QcFile]]) -> dict[str, Any]:
    """``capturerig qc``'s own loop over ``shot`` (its JSON document's ``takes``)."""
    runner = QcRunner([camera.id for camera in rig.cameras], plan.qc,
                      masks=subject_regions(*session_views(rig), rig_volume(rig)))
    by_id = {take.id: take for take in takes}
    return {"takes": [runner.check_take(take_id, by_id[take_id].lighting.state_id, files,
                                        station=by_id[take_id].station.id).to_json()
                      for take_id, files in shot.items()]}


def run_direct(work: Path, args: argparse.Namespace, live: bool) -> None:
    """The live (or, as a control, the still) subject shot directly through the sim camera's rendering."""
    rig_path, plan_path = write_inputs(work, args.cameras, args.takes, live=live)
    rig = capturerig.load_rig(rig_path)
    plan = capturerig.load_plan(plan_path, rig)
    takes = expand_plan(rig.config, plan.config)
    truth = schedule([c.id for c in rig.config.cameras], len(takes), args.per_kind, warmup=8, seed=args.seed,
                     bumped=args.bumped)
    started = time.perf_counter()
    shot = shoot_direct(rig.config, rig.path.parent, takes, truth, work / ("live" if live else "still-direct"))
    shot_s = time.perf_counter() - started
    started = time.perf_counter()
    document = check_direct(rig.config, plan.config, takes, shot)
    qc_s = time.perf_counter() - started
    label = "live subject" if live else "still subject, direct"
    print(f"\n== {label}: rendered directly as the sim camera does (takes {TAKE_S:g} s apart) ==")
    score(document, takes, truth, len(rig.config.cameras), shot_s, qc_s, label)


def score(document: dict[str, Any], takes: tuple[Take, ...], truth: dict[tuple[str, int], str], cameras: int,
          shot_s: float, qc_s: float, label: str) -> None:
    """Print and record detection per fault kind, false alarms on clean images (all and per check), timing."""
    prefix = "" if label == "still subject" else f"{label}: "
    order = {take.id: index for index, take in enumerate(takes)}
    caught: Counter[str] = Counter()
    failed: Counter[str] = Counter()  # of those caught, the ones a check failed (not only warned)
    by_check: dict[str, Counter[str]] = {kind: Counter() for kind in IMAGE_FAULT_KINDS}
    false_alarms, clean, seconds = [], 0, []
    alarm_checks: Counter[str] = Counter()  # clean images each check flagged
    alarm_fails: Counter[str] = Counter()  # and of those, the ones it failed
    faulty: list[tuple[str, set[str]]] = []  # each faulty file's kind and the checks that flagged it
    for take in document["takes"]:
        index = order[take["take"]]
        for checked in take["files"]:
            seconds.append(checked["seconds"])
            kind = truth.get((checked["camera"], index))
            flagged = [c["check"] for c in checked["checks"] if c["verdict"] != "ok"]
            if kind is None:
                clean += 1
                if flagged:
                    alarm_checks.update(flagged)
                    alarm_fails.update(c["check"] for c in checked["checks"] if c["verdict"] == "fail")
                    false_alarms.append((take["take"], checked["camera"], flagged,
                                         [f"{c['reason']} {c['figures']}" for c in checked["checks"]
                                          if c["verdict"] != "ok"]))
            else:
                faulty.append((kind, set(flagged)))
                if flagged:
                    caught[kind] += 1
                    failed[kind] += checked["verdict"] == "fail"
                    by_check[kind].update(flagged)
    # A check that flags clean images beyond the bound proves nothing when it flags a faulty one too.
    credible = {check for check in CHECKS if alarm_checks[check] <= FALSE_ALARM_BOUND * clean}
    caught_credibly = Counter(kind for kind, flagged in faulty if flagged & credible)
    images = len(seconds)
    print(f"{cameras} cameras x {len(takes)} takes = {images} images, {len(truth)} faulted; shot in "
          f"{shot_s:.0f} s, checked in {qc_s:.1f} s")
    for kind in IMAGE_FAULT_KINDS:
        scheduled = sum(1 for k in truth.values() if k == kind)
        share = caught[kind] / scheduled if scheduled else float("nan")
        checks = ", ".join(f"{name} {count}" for name, count in by_check[kind].most_common())
        credibly = caught_credibly[kind] / scheduled if scheduled else float("nan")
        print(f"  {kind:15s} caught {caught[kind]:3d} / {scheduled:3d} = {share:6.1%} ({failed[kind]} as fail; "
              f"{credibly:6.1%} by checks within the false-alarm bound)   by: {checks}")
        record("qc", f"{prefix}detected: {kind}", 100 * share, "%", target=100 * DETECT_TARGET, better="higher",
               note=f"{caught[kind]} of {scheduled}")
        if credible != set(CHECKS):
            left_out = ", ".join(sorted(set(CHECKS) - credible))
            record("qc", f"{prefix}detected by checks within the false-alarm bound: {kind}", 100 * credibly, "%",
                   target=100 * DETECT_TARGET, better="higher",
                   note=f"{caught_credibly[kind]} of {scheduled}; not counting {left_out}")
    print("(caught: a warn or a fail on the faulty file, from any check; 'by' counts each check that flagged it; "
          "'within the bound': only checks that flag at most 1 % of the clean images)")
    rate = len(false_alarms) / max(1, clean)
    print(f"false alarms on clean images: {len(false_alarms)} / {clean} = {rate:.2%}")
    for check in CHECKS:
        share = alarm_checks[check] / max(1, clean)
        print(f"  {check:10s} {alarm_checks[check]:4d} ({alarm_fails[check]} as fail) = {share:6.2%}")
        record("qc", f"{prefix}false alarms on clean images: {check}", 100 * share, "%",
               bound=100 * FALSE_ALARM_BOUND, note=f"{alarm_checks[check]} of {clean} ({alarm_fails[check]} fail)")
    for take_id, camera, flagged, reasons in false_alarms[:10]:
        print(f"  {take_id} {camera}: {', '.join(flagged)}: {reasons[0]}")
    record("qc", f"{prefix}false alarms on clean images", 100 * rate, "%", bound=100 * FALSE_ALARM_BOUND)
    median_ms = 1e3 * statistics.median(seconds)
    print(f"checks per image: median {median_ms:.1f} ms, p95 {1e3 * sorted(seconds)[int(0.95 * images)]:.1f} ms "
          "(half-size decode + measure + checks, CPU time of one core)")
    if not prefix:
        record("qc", "time per image (median, one core)", median_ms, "ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--takes", type=int, default=100)
    parser.add_argument("--cameras", type=int, default=16, help="the first N cameras of the simulated studio")
    parser.add_argument("--per-kind", type=int, default=8, help="faults of each kind (8 kinds)")
    parser.add_argument("--bumped", type=int, default=24,
                        help="bumped cameras (a bump turns the view as well as shifting it, so where it lands "
                             "matters: more samples than the other kinds)")
    parser.add_argument("--seed", type=int, default=22)
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--still", action="store_true", help="only the still subject through the engine")
    only.add_argument("--live", action="store_true", help="only the live (swaying) subject")
    parser.add_argument("--direct-still", action="store_true",
                        help="also the still subject rendered directly (a control for the live run's path)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="capturerig-bench-qc-") as tmp:
        work = Path(tmp)
        if not args.live:
            run_engine(work, args)
        if args.direct_still:
            run_direct(work, args, live=False)
        if not args.still:
            run_direct(work, args, live=True)


def run_engine(work: Path, args: argparse.Namespace) -> None:
    """The still subject through the real engine and ``capturerig qc`` (the acceptance run)."""
    rig_path, plan_path = write_inputs(work, args.cameras, args.takes)
    cameras = capturerig.load_rig(rig_path).config.cameras
    ledger = work / "ledger.jsonl"
    os.environ[LEDGER_ENV] = str(ledger)
    session = bench_session(rig_path, plan_path, work, 0)
    rig = session.folder.rig
    takes = expand_plan(rig.config, session.folder.plan.config)
    total = len(takes)
    truth = schedule([c.id for c in cameras], total, args.per_kind, warmup=8, seed=args.seed, bumped=args.bumped)
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
    print("== still subject: through the engine, then `capturerig qc` ==")
    print(f"faults fired (sim ledger): {dict(sorted(fired.items()))}")
    score(document, takes, truth, len(cameras), shot_s, qc_s, "still subject")
    print("the capture's critical path with the checks on against off (<= 1.02x): bench/session_walltime.py "
          "--qc-compare (figure 'session_walltime: demo plan, 16 cameras, images repeat: capture with checks on / "
          "off'); "
          "here the session ran them during the capture too (qc.on_fail ask) and `capturerig qc` again after it")


if __name__ == "__main__":
    main()
