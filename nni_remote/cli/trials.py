"""``nni-remote trial`` (ls, kill, retry) and ``nni-remote top``."""
from __future__ import annotations

import json
import time
from typing import Any, Optional

import click

from nni_remote.cli.base import (EXIT_USAGE, FINISHED, CliError, client_for, emit, fmt_duration, fmt_params,
                                 fmt_value, format_table, json_option, main, report)


# -- trials -------------------------------------------------------------------------
@main.group()
def trial() -> None:
    """Trials of a running experiment."""


@trial.command("ls")
@click.argument("exp_id", required=False)
@click.option("--status", default=None, help="only trials with this status")
@click.option("--head", type=int, default=None, help="only the N best trials (by the default metric)")
@click.option("--tail", type=int, default=None, help="only the N worst trials (by the default metric)")
@json_option
def trial_ls(exp_id: Optional[str], status: Optional[str], head: Optional[int], tail: Optional[int],
             as_json: bool) -> None:
    """List trials: status, machine, parameters, final metric, and why waiting ones wait."""
    _, client = client_for(exp_id)
    jobs = client.get("trial-jobs", params={"status": status} if status else None)
    views = {t["trialJobId"]: t for t in client.trials()}
    if head is not None or tail is not None:
        maximize = client.overview()["optimizeMode"] == "maximize"
        scored = [j for j in jobs if views.get(j["trialJobId"], {}).get("finalScalar") is not None]
        scored.sort(key=lambda j: views[j["trialJobId"]]["finalScalar"], reverse=maximize)
        jobs = scored[:head] if head is not None else list(reversed(scored))[:tail]
    table = []
    for j in jobs:
        v = views.get(j["trialJobId"], {})
        table.append([j["trialJobId"], j["sequenceId"], j["status"], fmt_params(v.get("parameters")),
                      fmt_value(v.get("finalMetric")), fmt_duration(v.get("duration")), j.get("machine") or "",
                      ",".join(map(str, v.get("gpus") or [])), j.get("message", "")])
    if not jobs and not as_json:
        click.echo("no trials" + (f" with status {status}" if status else ""))
        return
    emit(jobs, as_json, table, ["ID", "SEQ", "STATUS", "PARAMETERS", "FINAL", "DURATION", "MACHINE", "GPUS",
                                 "MESSAGE"])


@trial.command("kill")
@click.argument("arg", required=False, metavar="[TRIAL_ID | EXPERIMENT_ID]")
@click.option("--trial_id", "-T", "trial_opt", default=None,
              help="the trial (nnictl's spelling; the argument is then the experiment)")
@click.option("--experiment", "exp_id", default=None, help="experiment id (default: the running one)")
@json_option
def trial_kill(arg: Optional[str], trial_opt: Optional[str], exp_id: Optional[str], as_json: bool) -> None:
    """Kill one trial (its whole process group): ``kill TRIAL`` or nnictl's ``kill [EXP] -T TRIAL``."""
    trial_id = arg
    if trial_opt is not None:
        exp_id, trial_id = exp_id or arg, trial_opt
    if trial_id is None:
        raise CliError("name the trial: `trial kill TRIAL_ID` or `trial kill [EXPERIMENT_ID] -T TRIAL_ID`",
                       EXIT_USAGE)
    exp_id, client = client_for(exp_id)
    client.delete(f"trial-jobs/{trial_id}")
    report({"id": exp_id, "killed": trial_id}, as_json, f"trial {trial_id} killed")


@trial.command("retry")
@click.argument("trial_id", required=False)
@click.option("--failed", "all_failed", is_flag=True, help="retry every FAILED trial not retried before")
@click.option("--experiment", "exp_id", default=None, help="experiment id (default: the running one)")
@json_option
def trial_retry(trial_id: Optional[str], all_failed: bool, exp_id: Optional[str], as_json: bool) -> None:
    """Run a finished trial's parameters again, as a new trial."""
    if (trial_id is None) == (not all_failed):
        raise CliError("give a trial id or --failed (not both)", EXIT_USAGE)
    exp_id, client = client_for(exp_id)
    if all_failed:
        result = client.retry_failed()
        retried = result["retried"]
    else:
        assert trial_id is not None
        retried = [client.retry_trial(trial_id)]
    if as_json:
        emit({"id": exp_id, "retried": retried}, True)
        return
    if not retried:
        click.echo("no failed trial left to retry")
    for r in retried:
        click.echo(f"trial {r['from']} retried as {r.get('trialJobId') or '#' + str(r['sequenceId'])}")


# -- top ----------------------------------------------------------------------------
@main.command()
@click.argument("exp_id", required=False)
@click.option("--time", "--interval", "-t", "interval", default=3.0, show_default=True,
              help="seconds between refreshes")
@click.option("--once", is_flag=True, help="print one snapshot and exit")
@json_option
def top(exp_id: Optional[str], interval: float, once: bool, as_json: bool) -> None:
    """A live table of the experiment: status, budget, trials, machines (Ctrl-C quits).

    With --json, one JSON line per refresh.
    """
    exp_id, client = client_for(exp_id)
    while True:
        overview = client.overview()
        trials = client.trials()
        machines = client.machines()
        if as_json:   # one JSON line per refresh
            click.echo(json.dumps({"overview": overview, "trials": trials, "machines": machines}))
        else:
            if not once:
                click.clear()
            click.echo(_top_text(overview, trials, machines))
        if once or overview["status"] in FINISHED:
            return
        try:
            time.sleep(interval)
        except KeyboardInterrupt:
            return


def _top_text(o: dict[str, Any], trials: list[dict[str, Any]], machines: list[dict[str, Any]]) -> str:
    budget = f"/{o['maxTrialNumber']}" if o.get("maxTrialNumber") else ""
    limit = f"/{fmt_duration(o['maxExperimentDurationSeconds'])}" if o.get("maxExperimentDurationSeconds") else ""
    counts = "  ".join(f"{s} {n}" for s, n in sorted(o["trialCounts"].items()))
    lines = [f"{o['id']}  {o.get('experimentName') or ''}  {o['status']}  "
             f"trials {o['finishedTrials']}{budget}  time {fmt_duration(o['execDuration'])}{limit}  "
             f"concurrency {o.get('trialConcurrency')}", counts]
    if o["bestTrials"]:
        b = o["bestTrials"][0]
        lines.append(f"best {b['trialJobId']} {fmt_value(b['value'])}  ({fmt_params(b['parameters'])})")
    for err in o["errors"]:
        lines.append(f"error: {err}")
    shown = sorted(trials, key=lambda t: (t["status"] not in ("RUNNING", "WAITING"), -t["sequenceId"]))[:20]
    lines += ["", format_table([[t["trialJobId"], t["sequenceId"], t["status"], fmt_params(t["parameters"]),
                           fmt_value(t["finalMetric"]), fmt_duration(t["duration"]), t["machine"] or "",
                           t["message"]] for t in shown],
                         ["ID", "SEQ", "STATUS", "PARAMETERS", "FINAL", "DURATION", "MACHINE", "MESSAGE"])]
    if machines:
        lines += ["", format_table([[m["name"], m["state"], f"{len(m['runningTrials'])}/{m['slots']}",
                               len(m["gpus"] or []), _ago(m["lastHeartbeat"]), "; ".join(m["errors"])]
                              for m in machines], ["MACHINE", "STATE", "TRIALS", "GPUS", "HEARTBEAT", "ERRORS"])]
    return "\n".join(lines)


def _ago(ms: Any) -> str:
    return "never" if not isinstance(ms, (int, float)) else f"{max(time.time() - ms / 1000, 0):.0f}s ago"

