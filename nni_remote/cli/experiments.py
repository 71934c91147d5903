"""``nni-remote experiment``: the registry's experiments: list, show, status, export, import, delete."""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
from typing import Any, Optional

import click

from nni_remote.cli.base import (EXIT_FAILED, EXIT_USAGE, CliError, client_for, emit, exp_dir, fmt_duration,
                                 fmt_params, fmt_time, fmt_value, json_option, load_file, main, report,
                                 resolve)
from nni_remote.common import registry


# -- experiment ---------------------------------------------------------------------
@main.group()
def experiment() -> None:
    """Experiments in the registry (~/nni-experiments/.experiment)."""


@experiment.command("list")
@click.option("--all", "show_all", is_flag=True, help="include stopped experiments")
@json_option
def experiment_list(show_all: bool, as_json: bool) -> None:
    """List experiments (running ones unless --all)."""
    entries = [e for e in registry.all_entries().values() if show_all or e.get("status") != "STOPPED"]
    table = [[e["id"], e.get("experimentName") or "", e.get("status"), e.get("port") or "", e.get("platform"),
              fmt_time(e.get("startTime")), fmt_time(e.get("endTime")) if e.get("endTime") != "N/A" else ""]
             for e in entries]
    if not entries and not as_json:
        click.echo("no experiment is running" + ("" if show_all else "; `--all` lists stopped ones too"))
        return
    emit(entries, as_json, table, ["ID", "NAME", "STATUS", "PORT", "PLATFORM", "STARTED", "ENDED"])


@experiment.command("show")
@click.argument("exp_id", required=False)
@json_option
def experiment_show(exp_id: Optional[str], as_json: bool) -> None:
    """The experiment's profile: config, duration, trial counts."""
    exp_id, client = client_for(exp_id)
    profile = client.get("experiment")
    if as_json:
        emit(profile, True)
        return
    o = client.overview()
    p = profile["params"]
    rows = [["id", exp_id], ["name", p.get("experimentName") or ""], ["status", o["status"]],
            ["platform", o.get("platform")], ["started", fmt_time(profile.get("startTime"))],
            ["ended", fmt_time(profile.get("endTime"))], ["duration", f"{fmt_duration(profile['execDuration'])}"
                                                           f" / {p.get('maxExperimentDuration') or 'unlimited'}"],
            ["trials", f"{o['finishedTrials']} finished, {o['submittedTrials']} submitted / "
                       f"{p.get('maxTrialNumber') or 'unlimited'}"],
            ["concurrency", p.get("trialConcurrency")], ["tuner", (p.get("tuner") or {}).get("name")
                                                         or (p.get("tuner") or {}).get("className")],
            ["optimize", o["optimizeMode"]], ["search space", json.dumps(p.get("searchSpace"))],
            ["trial command", p.get("trialCommand")], ["directory", profile.get("logDir")]]
    if o["bestTrials"]:
        best = o["bestTrials"][0]
        rows.append(["best", f"{best['trialJobId']}: {fmt_value(best['value'])} ({fmt_params(best['parameters'])})"])
    for err in o["errors"]:
        rows.append(["error", err])
    click.echo("\n".join(f"{k:<14} {v}" for k, v in rows))


@experiment.command("status")
@click.argument("exp_id", required=False)
@json_option
def experiment_status(exp_id: Optional[str], as_json: bool) -> None:
    """Status and errors (GET /check-status)."""
    exp_id, client = client_for(exp_id)
    data = client.status()
    if as_json:
        emit(data, True)
        return
    click.echo(f"{exp_id}: {data['status']}")
    for err in data.get("errors") or []:
        click.echo(f"  error: {err}")


@experiment.command("export")
@click.argument("exp_id", required=False)
@click.option("--type", "-t", "kind", type=click.Choice(["csv", "json"]), required=True)
@click.option("--filename", "-f", default=None, help="output file (default: standard output)")
@click.option("--intermediate", "-i", is_flag=True, help="add each trial's intermediate results")
def experiment_export(exp_id: Optional[str], kind: str, filename: Optional[str], intermediate: bool) -> None:
    """Export parameters and final results of the succeeded trials (nnictl's formats)."""
    exp_id, client = client_for(exp_id)
    records = client.get("export-data")
    if intermediate:
        periodical: dict[str, list[Any]] = {}
        for m in client.get("metric-data", params={"type": "PERIODICAL"}):
            periodical.setdefault(m["trialJobId"], []).append((m["sequence"], json.loads(m["data"])))
        for r in records:
            r["intermediate"] = [v for _, v in sorted(periodical.get(r["trialJobId"], []))]
    text = json.dumps(records) if kind == "json" else _to_csv(records, intermediate)
    if filename is None:
        click.echo(text)
    else:
        with open(filename, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        click.echo(f"exported {len(records)} trials of {exp_id} to {filename}", err=True)


def _to_csv(records: list[dict[str, Any]], intermediate: bool) -> str:
    """nnictl's CSV: one column per parameter, then the metric (``reward`` or one per dict key)."""
    rows: list[dict[str, Any]] = []
    for r in records:
        row: dict[str, Any] = {}
        params = r.get("parameter")
        if isinstance(params, dict):
            row.update({k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in params.items()})
        else:
            row["parameter"] = json.dumps(params)
        try:
            value = json.loads(r["value"]) if isinstance(r["value"], str) else r["value"]
        except ValueError:
            value = r["value"]
        if isinstance(value, dict):
            row.update(value)
        else:
            row["reward"] = value
        row["trialJobId"] = r["trialJobId"]
        if intermediate:
            row["intermediate"] = "[" + ",".join(str(v) for v in r.get("intermediate", [])) + "]"
        rows.append(row)
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().rstrip("\n")


@experiment.command("import")
@click.argument("exp_id", required=False)
@click.option("--filename", "-f", required=True, type=click.Path(exists=True, dir_okay=False),
              help='JSON list of {"parameter": {...}, "value": ...} (NNI\'s format; an export file works too)')
@json_option
def experiment_import(exp_id: Optional[str], filename: str, as_json: bool) -> None:
    """Give the tuner results obtained elsewhere."""
    data = load_file(filename)
    if not isinstance(data, list) or not all(isinstance(d, dict) and "parameter" in d and "value" in d
                                             for d in data):
        raise CliError(f'{filename} must hold a JSON list of {{"parameter": {{...}}, "value": ...}}', EXIT_USAGE)
    exp_id, client = client_for(exp_id)
    client.post("experiment/import-data", [{"parameter": d["parameter"], "value": d["value"]} for d in data])
    report({"id": exp_id, "imported": len(data)}, as_json, f"imported {len(data)} results into {exp_id}")


@experiment.command("delete")
@click.argument("exp_id", required=False)
@click.option("--all", "delete_all", is_flag=True, help="delete every stopped experiment")
@click.option("--yes", "-y", is_flag=True, help="do not ask for confirmation")
@json_option
def experiment_delete(exp_id: Optional[str], delete_all: bool, yes: bool, as_json: bool) -> None:
    """Delete stopped experiments: their directory and their registry entry."""
    entries = registry.all_entries()
    if delete_all:
        targets = [k for k, v in entries.items() if v.get("status") == "STOPPED"]
    else:
        if exp_id is None:
            raise CliError("name the experiment to delete (or --all for every stopped one)", EXIT_USAGE)
        target = resolve(exp_id)
        if entries[target].get("status") != "STOPPED":
            raise CliError(f"experiment {target} is {entries[target].get('status')}: stop it first "
                           f"(`nni-remote stop {target}`)", EXIT_FAILED)
        targets = [target]
    if not targets:
        click.echo("no stopped experiment to delete")
        return
    dirs = {t: exp_dir(t) for t in targets}
    if not yes:
        click.confirm("delete " + ", ".join(f"{t} ({d})" for t, d in dirs.items()) + "?", abort=True)
    for target, directory in dirs.items():
        if os.path.isdir(directory):
            shutil.rmtree(directory)
        registry.remove_entry(target)
        if not as_json:
            click.echo(f"deleted {target} ({directory})")
    if as_json:
        emit({"deleted": targets}, True)

