"""``nni-remote experiment``: the registry's experiments: list, show, status, export, import, delete."""
from __future__ import annotations

import json
import os
import shutil
from typing import Any, Optional

import click

from nni_remote.cli.base import (EXIT_FAILED, EXIT_USAGE, CliError, client_for, emit, exp_dir, fmt_duration,
                                 fmt_params, fmt_time, fmt_value, json_option, load_file, main, report,
                                 resolve, stored)
from nni_remote.common import registry
from nni_remote.exports import DEFAULT_KEY, by_key, to_csv


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
@click.option("--metric-key", "-k", default=DEFAULT_KEY, show_default=True,
              help="export this key of dict metrics as the value (trials without it are left out)")
@json_option
def experiment_export(exp_id: Optional[str], kind: str, filename: Optional[str], intermediate: bool,
                      metric_key: str, as_json: bool) -> None:
    """Export parameters and final results of the succeeded trials (nnictl's formats).

    With --json: ``{"id", "type", "trials", "filename"}``, plus ``data`` (the
    records, or the CSV text) when no --filename is given.
    """
    exp_id, client = client_for(exp_id)
    records = by_key(client.get("export-data"), metric_key)
    if intermediate:
        periodical: dict[str, list[Any]] = {}
        for m in client.get("metric-data", params={"type": "PERIODICAL"}):
            periodical.setdefault(m["trialJobId"], []).append((m["sequence"], json.loads(m["data"])))
        for r in records:
            r["intermediate"] = [v for _, v in sorted(periodical.get(r["trialJobId"], []))]
    text = json.dumps(records) if kind == "json" else to_csv(records, intermediate)
    summary: dict[str, Any] = {"id": exp_id, "type": kind, "trials": len(records), "filename": filename}
    if filename is None:
        if as_json:
            emit({**summary, "data": records if kind == "json" else text}, True)
        else:
            click.echo(text)
        return
    with open(filename, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    if as_json:
        emit(summary, True)
    else:
        click.echo(f"exported {len(records)} trials of {exp_id} to {filename}", err=True)


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
@click.option("--hosts/--no-hosts", "hosts", default=None,
              help="also remove ~/nni-remote/<id> on the remote machines (asked when not given)")
@click.option("--yes", "-y", is_flag=True, help="do not ask for confirmation")
@json_option
def experiment_delete(exp_id: Optional[str], delete_all: bool, hosts: Optional[bool], yes: bool,
                      as_json: bool) -> None:
    """Delete stopped experiments: their directory, their registry entry and, if asked, the hosts' files.

    Without --yes it asks first; with --json it never asks, so --json needs --yes.
    Remote machines keep ~/nni-remote/<id> unless --hosts is given or the
    question is answered yes.
    """
    from nni_remote.cli.hosts import remote_machines, remove_host_files
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
        report({"deleted": []}, as_json, "no stopped experiment to delete")
        return
    if as_json and not yes:
        raise CliError("--json never asks for confirmation: add --yes to delete "
                       + ", ".join(targets), EXIT_USAGE)
    dirs = {t: exp_dir(t) for t in targets}
    if not yes:
        click.confirm("delete " + ", ".join(f"{t} ({d})" for t, d in dirs.items()) + "?", abort=True)
    machines = {t: remote_machines(d) for t, d in dirs.items()} if hosts is not False else {}
    if hosts is None and any(machines.values()):
        names = sorted({m.host for ms in machines.values() for m in ms})
        hosts = yes is False and click.confirm(f"also remove ~/nni-remote/<id> on {', '.join(names)}?")
    results: dict[str, list[dict[str, Any]]] = {}
    for target, directory in dirs.items():
        if hosts and machines.get(target):
            results[target] = remove_host_files(machines[target], target)
        if os.path.isdir(directory):
            shutil.rmtree(directory)
        registry.remove_entry(target)
        if not as_json:
            click.echo(f"deleted {target} ({directory})")
            for r in results.get(target, []):
                click.echo(f"  {r['host']}: " + ("removed " + r["path"] if r["ok"] else r["error"]))
            if not hosts and machines.get(target):
                click.echo(f"  kept ~/nni-remote/{target} on the remote machines (--hosts removes it)")
    if as_json:
        emit({"deleted": targets, "hosts": results}, True)
    failed = [r for rs in results.values() for r in rs if not r["ok"]]
    if failed:
        raise CliError(f"{len(failed)} host(s) kept their files: "
                       + "; ".join(f"{r['host']}: {r['error']}" for r in failed), EXIT_FAILED)


@main.group()
def config() -> None:
    """An experiment's stored config (nnictl's `config show`)."""


@config.command("show")
@click.argument("exp_id", required=False)
@json_option
def config_show(exp_id: Optional[str], as_json: bool) -> None:
    """The experiment's config as the manager stores it (camelCase JSON; secrets masked)."""
    exp_id = resolve(exp_id)
    profile, _ = stored(exp_dir(exp_id))
    if not profile:
        raise CliError(f"experiment {exp_id} has no stored config in {exp_dir(exp_id)}/db", EXIT_FAILED)
    click.echo(json.dumps(profile.get("params"), indent=None if as_json else 4))


@main.group()
def webui() -> None:
    """The web portal (nnictl's `webui url`)."""


@webui.command("url")
@click.argument("exp_id", required=False)
@json_option
def webui_url(exp_id: Optional[str], as_json: bool) -> None:
    """The web portal's URLs of a running experiment (with the access token where it needs one)."""
    exp_id, client = client_for(exp_id)
    from nni_remote.experiment import _portal_urls
    urls = _portal_urls(client.port, (registry.get_entry(exp_id) or {}).get("nniManagerIp"), exp_dir(exp_id))
    report({"id": exp_id, "urls": urls}, as_json, "Web UI url: " + " ".join(urls))
