"""``capturerig sim ...``: the simulator's commands, plugged into the CLI by the ``capturerig.cli_plugins``
entry point (core code never imports the simulators)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from capturerig_sim._chaos_multihost import (
    FAULT_KINDS,
    MultihostOutcome,
    MultihostSettings,
    MultihostSummary,
    run_multihost_chaos,
)
from capturerig_sim.chaos import ChaosSettings, ChaosSummary, SessionOutcome, run_chaos

__all__ = ["print_multihost_summary", "print_summary", "sim_app"]

sim_app = typer.Typer(no_args_is_help=True, help="The simulated studio: chaos sessions and other sim tools.")
console = Console(soft_wrap=True)


def _print_outcome(outcome: SessionOutcome) -> None:
    check = outcome.check
    verdict = "[green]ok" if not check.lost and not check.reshot else "[red]FAILED"
    console.print(f"session {outcome.index:3d}: {check.verified}/{check.takes} verified, {outcome.runs} run(s), "
                  f"{outcome.kills} kill(s), {sum(check.faults.values())} fault(s)"
                  f"{', disk filled' if outcome.disk_full else ''}, {outcome.seconds:.1f} s: {verdict}[/] "
                  f"({outcome.end})", highlight=False)


def print_summary(summary: ChaosSummary) -> None:
    """Print the totals, the faults by kind and every lost file, re-shot take and incomplete take."""
    table = Table(title=f"chaos: seed {summary.settings.seed}, {len(summary.outcomes)} sessions "
                        f"in {summary.seconds:.0f} s")
    table.add_column("what")
    table.add_column("count", justify="right")
    outcomes = summary.outcomes
    table.add_row("sessions", str(len(outcomes)))
    table.add_row("sessions complete", str(sum(1 for o in outcomes if not o.check.incomplete)))
    table.add_row("controller runs", str(sum(o.runs for o in outcomes)))
    table.add_row("SIGKILLs", str(summary.kills))
    table.add_row("host disk nearly full (simulated)", str(sum(1 for o in outcomes if o.disk_full)))
    table.add_row("stopped at the storage reserve", str(sum(1 for o in outcomes if o.check.reserve_stop)))
    table.add_row("files in sessions", str(sum(o.check.files for o in outcomes)))
    table.add_row("in flight at a kill (left on the card)", str(sum(o.check.in_flight_at_kill for o in outcomes)))
    table.add_row("damaged in transit (re-shot)", str(sum(o.check.damaged_in_transit for o in outcomes)))
    for kind, count in sorted(summary.faults.items()):
        table.add_row(f"fault: {kind}", str(count))
    table.add_row("[bold]lost files", str(len(summary.lost)))
    table.add_row("[bold]re-shot verified takes", str(len(summary.reshot)))
    table.add_row("incomplete takes (reported)", str(len(summary.incomplete)))
    console.print(table)
    for title, lines in (("lost", summary.lost), ("re-shot", summary.reshot), ("incomplete", summary.incomplete)):
        for line in lines:
            console.print(f"{title}: {line}", highlight=False)


def _print_multihost_outcome(outcome: MultihostOutcome) -> None:
    check = outcome.check
    bad = check.lost or check.duplicates or check.reshot or check.unreported
    faults = ", ".join(f"{kind} {n}" for kind, n in sorted(outcome.faults.items())) or "no faults"
    console.print(f"session {outcome.index:3d}: {check.verified}/{check.takes} verified, {outcome.runs} run(s), "
                  f"{faults}, {outcome.seconds:.1f} s: {'[red]FAILED' if bad else '[green]ok'}[/] ({outcome.end})",
                  highlight=False)
    for problem in outcome.problems:
        console.print(f"  harness: {problem}", highlight=False)


def print_multihost_summary(summary: MultihostSummary) -> None:
    """The multihost totals: faults of each kind, files, and every lost, duplicate, re-shot or incomplete take."""
    settings, outcomes = summary.settings, summary.outcomes
    table = Table(title=f"multihost chaos: seed {settings.seed}, {len(outcomes)} sessions, {settings.agents} agents x "
                        f"{settings.cameras_per_agent} cameras, in {summary.seconds:.0f} s")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("sessions", str(len(outcomes)))
    table.add_row("sessions complete", str(sum(1 for o in outcomes if not o.check.incomplete)))
    table.add_row("controller runs", str(sum(o.runs for o in outcomes)))
    faults = summary.faults
    for kind in FAULT_KINDS:
        table.add_row(f"fault: {kind}", str(faults.get(kind, 0)))
    table.add_row("files delivered whole by the cameras", str(sum(o.check.delivered for o in outcomes)))
    table.add_row("files in sessions", str(sum(o.check.files for o in outcomes)))
    table.add_row("left in agent spools (stored, not acked)", str(sum(o.check.left_in_spools for o in outcomes)))
    table.add_row("in flight at an agent kill (on the card)",
                  str(sum(o.check.in_flight_at_agent_kill for o in outcomes)))
    table.add_row("[bold]lost files", str(len(summary.lost)))
    table.add_row("[bold]duplicate files", str(len(summary.duplicates)))
    table.add_row("[bold]re-shot verified takes", str(len(summary.reshot)))
    table.add_row("[bold]incomplete takes without a reason", str(len(summary.unreported)))
    table.add_row("incomplete takes (reported)", str(len(summary.incomplete)))
    console.print(table)
    for title, lines in (("lost", summary.lost), ("duplicate", summary.duplicates), ("re-shot", summary.reshot),
                         ("unreported", summary.unreported), ("incomplete", summary.incomplete)):
        for line in lines:
            console.print(f"{title}: {line}", highlight=False)


def _chaos_multihost(folder: Path, settings: MultihostSettings) -> None:
    try:
        summary = run_multihost_chaos(settings, folder, progress=_print_multihost_outcome)
    except FileExistsError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from exc
    print_multihost_summary(summary)
    if not summary.ok:
        raise typer.Exit(1)


@sim_app.command("chaos")
def chaos(seed: Annotated[int, typer.Option("--seed", help="seed of the fault and kill schedule")] = 0,
          sessions: Annotated[int, typer.Option("--sessions", min=1, help="how many sessions to run")] = 3,
          work: Annotated[Path | None, typer.Option("--work", help="empty folder for the sessions "
                                                   "(default: a new temporary folder, kept)")] = None,
          time_scale: Annotated[float, typer.Option("--time-scale", min=0.0,
                                                    help="multiplies the studio's modelled latencies")] = 0.02,
          kill_probability: Annotated[float, typer.Option("--kill-probability", min=0.0, max=1.0,
                                                          help="chance a session's first run is killed")] = 0.6,
          multihost: Annotated[bool, typer.Option("--multihost", help="capture agents behind fault proxies: agent "
                                                  "SIGKILL / SIGSTOP, partition, agent disk full, controller "
                                                  "SIGKILL")] = False,
          agents: Annotated[int, typer.Option("--agents", min=1, max=8, help="with --multihost: capture hosts")] = 4,
          cameras_per_agent: Annotated[int, typer.Option("--cameras-per-agent", min=1, max=16,
                                                         help="with --multihost: cameras on each host")] = 4,
          ) -> None:
    """Run sessions under random faults and SIGKILLs, resume each, and check nothing was lost or re-shot."""
    folder = work or Path(tempfile.mkdtemp(prefix="capturerig-chaos-"))
    console.print(f"chaos in {folder}", highlight=False)
    if multihost:
        # The single-host default time scale is too fast for agent faults to land inside a session.
        scale = time_scale if time_scale != 0.02 else MultihostSettings.time_scale
        _chaos_multihost(folder, MultihostSettings(seed=seed, sessions=sessions, agents=agents,
                                                   cameras_per_agent=cameras_per_agent, time_scale=scale,
                                                   controller_kill_probability=kill_probability))
        return
    settings = ChaosSettings(seed=seed, sessions=sessions, time_scale=time_scale, kill_probability=kill_probability)
    try:
        summary = run_chaos(settings, folder, progress=_print_outcome)
    except FileExistsError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from exc
    print_summary(summary)
    if not summary.ok:
        raise typer.Exit(1)
