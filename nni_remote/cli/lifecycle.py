"""Starting and stopping experiments, and changing them while they run: create, resume, view, stop, update."""
from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from typing import Any, Callable, Optional

import click

from nni_remote.cli.base import (EXIT_EXPERIMENT_ERROR, EXIT_USAGE, CliError, client_for, emit, fmt_value,
                                 json_option, load_file, main, match_id, report, running_entries, stored)
from nni_remote.config import ExperimentConfig
from nni_remote.common import registry


debug_option = click.option("--debug", "-d", is_flag=True,
                            help="the manager logs at debug level (nnimanager.log, dispatcher.log)")
port_option = click.option("--port", "-p", default=8080, show_default=True, help="REST/portal port")
foreground_option = click.option("--foreground", "-f", is_flag=True,
                                 help="wait until the experiment ends, with a progress bar, then stop it")
dir_option = click.option("--experiment_dir", "-e", "experiment_dir", default=None,
                          type=click.Path(exists=True, file_okay=False),
                          help="the directory holding <ID>/ (an experiment missing from this machine's registry)")


@main.command()
@click.option("--config", "-c", "config_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="NNI v2 (or v1) YAML/JSON config file")
@port_option
@debug_option
@foreground_option
@click.option("--id", "exp_id", default=None, help="experiment id (default: random)")
@json_option
def create(config_path: str, port: int, debug: bool, foreground: bool, exp_id: Optional[str], as_json: bool) -> None:
    """Create and start an experiment from a config file.

    Prints the experiment id and the web portal URLs (with the access token
    when nniManagerIp makes the manager listen beyond loopback).
    """
    from nni_remote.experiment import Experiment
    exp = Experiment(ExperimentConfig.load(config_path), id=exp_id)
    _launch(exp, port, debug, foreground, as_json, "started")


@main.command()
@click.argument("exp_id")
@port_option
@debug_option
@foreground_option
@dir_option
@json_option
def resume(exp_id: str, port: int, debug: bool, foreground: bool, experiment_dir: Optional[str],
           as_json: bool) -> None:
    """Resume a stopped experiment (finished trials kept, unfinished ones re-run)."""
    from nni_remote.experiment import Experiment
    exp_id = _existing(exp_id, experiment_dir)
    exp = Experiment(None, id=exp_id)
    exp._prepare_existing("resume")
    _launch(exp, port, debug, foreground, as_json, "resumed")


@main.command()
@click.argument("exp_id")
@port_option
@debug_option
@dir_option
@json_option
def view(exp_id: str, port: int, debug: bool, experiment_dir: Optional[str], as_json: bool) -> None:
    """Open a stopped experiment read-only (detached; stop it with `nni-remote stop`)."""
    from nni_remote.experiment import Experiment
    exp_id = _existing(exp_id, experiment_dir)
    exp = Experiment(None, id=exp_id)
    exp._prepare_existing("view")
    _launch(exp, port, debug, False, as_json, "viewed read-only")


def _launch(exp: Any, port: int, debug: bool, foreground: bool, as_json: bool, done: str) -> None:
    """Start the manager (detached unless ``foreground``); with --json, its announcement goes to stderr."""
    from nni_remote.experiment import RunMode
    mode = RunMode.Background if foreground else RunMode.Detach
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        exp.start(port, debug=debug, run_mode=mode)
    started = {"id": exp.id, "port": port, "url": exp.urls[0], "urls": exp.urls}
    if not foreground:
        report(started, as_json, f"experiment {exp.id} {done}; stop it with `nni-remote stop {exp.id}`")
        return
    _finish_foreground(exp, as_json, started)


def _existing(exp_id: str, experiment_dir: Optional[str]) -> str:
    """The full id of a registry experiment, or one adopted from ``experiment_dir`` (nnictl's ``-e``)."""
    found = match_id(exp_id, registry.all_entries())
    if experiment_dir is None or found is not None:
        return found or exp_id
    directory = os.path.abspath(experiment_dir)
    profile, _ = stored(os.path.join(directory, exp_id))
    if not profile:
        raise CliError(f"{os.path.join(directory, exp_id, 'db', 'nni.sqlite')} holds no experiment: "
                       f"--experiment_dir must be the directory that holds {exp_id}/", EXIT_USAGE)
    params = profile.get("params") or {}
    service = params.get("trainingService") or {}
    registry.update_entry(exp_id, id=exp_id, port=None, startTime=profile.get("startTime"),
                          endTime=profile.get("endTime", "N/A"), status="STOPPED",
                          platform=service.get("platform", "local"), experimentName=params.get("experimentName"),
                          tag=[], pid=None, webuiUrl=[], logDir=directory, prefixUrl=None,
                          **({"nniManagerIp": params["nniManagerIp"]} if params.get("nniManagerIp") else {}))
    return exp_id


def _finish_foreground(exp: Any, as_json: bool, started: dict[str, Any]) -> None:
    ok = exp._wait_completion()
    status = exp.get_status() if exp.port is not None else "STOPPED"
    best = _best(exp)
    exp.stop()
    if as_json:
        emit({**started, "status": status, "best": best}, True)
    elif best is None:
        click.echo("no trial reported a final result")
    else:
        click.echo(f"best trial {best['trialJobId']}: {fmt_value(best['value'])} with {json.dumps(best['parameters'])}")
    if ok is False:
        raise CliError(f"experiment {exp.id} ended in ERROR; see `nni-remote log manager {exp.id}`",
                       EXIT_EXPERIMENT_ERROR)


def _best(exp: Any) -> Optional[dict[str, Any]]:
    top = exp._rest.overview().get("bestTrials") or []
    return top[0] if top else None


@main.command()
@click.argument("exp_id", required=False)
@click.option("--port", "-p", type=int, default=None, help="stop the experiment whose manager listens on this port")
@click.option("--all", "-a", "stop_all", is_flag=True, help="stop every running experiment")
@json_option
def stop(exp_id: Optional[str], port: Optional[int], stop_all: bool, as_json: bool) -> None:
    """Stop a running experiment (trials are killed, state is kept for resume).

    The experiment is the one named (an id, a unique prefix, or ``prefix*`` for
    every match), the one listening on --port, every one with --all, or the
    only one running.
    """
    running = running_entries()
    if stop_all:
        targets = list(running)
    elif port is not None:
        targets = [k for k, v in running.items() if int(v["port"]) == port]
        if not targets:
            raise CliError(f"no running experiment listens on port {port}; see `nni-remote experiment list`",
                           EXIT_USAGE)
    elif exp_id is not None and exp_id.endswith("*"):
        targets = [k for k in running if k.startswith(exp_id.rstrip("*"))]
        if not targets:
            raise CliError(f"no running experiment matches {exp_id!r}", EXIT_USAGE)
    else:
        targets = [client_for(exp_id)[0]]
    for target in targets:
        _, client = client_for(target)
        client.delete("experiment", timeout=60)
        _wait_stopped(target)
        if not as_json:
            click.echo(f"experiment {target} stopped")
    if as_json:
        emit({"stopped": targets}, True)
    elif not targets:
        click.echo("no experiment is running")


def _wait_stopped(exp_id: str, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        entry = registry.get_entry(exp_id) or {}
        if entry.get("status") == "STOPPED":
            return
        time.sleep(0.05)


# -- update -------------------------------------------------------------------------
@main.group()
def update() -> None:
    """Change a running experiment: concurrency, duration, trial number, search space."""


def _update_command(name: str, update_type: str, field: str, parse: Callable[[str], Any], help_text: str) -> None:
    @update.command(name, help=help_text)
    @click.argument("exp_id", required=False)
    @click.option("--value", "-v", required=True, help="the new value")
    @json_option
    def command(exp_id: Optional[str], value: str, as_json: bool) -> None:
        exp_id, client = client_for(exp_id)
        parsed = parse(value)
        client.update(update_type, field, parsed)
        report({"id": exp_id, field: parsed}, as_json, f"experiment {exp_id}: {field} set to {parsed}")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise CliError(f"--value must be a whole number, got {text!r}", EXIT_USAGE)
    if value <= 0:
        raise CliError(f"--value must be > 0, got {value}", EXIT_USAGE)
    return value


def _duration(text: str) -> Any:
    from nni_remote.config import parse_time
    try:
        parse_time(text)
    except (ValueError, TypeError) as exc:
        raise CliError(f"--value {text!r}: {exc}; use seconds or a number with a unit (30m, 2h, 1d)", EXIT_USAGE)
    return int(text) if text.strip().isdigit() else text.strip()


_update_command("concurrency", "TRIAL_CONCURRENCY", "trialConcurrency", _positive_int,
                "Set trialConcurrency (trials run at once).")
_update_command("duration", "MAX_EXEC_DURATION", "maxExperimentDuration", _duration,
                "Set maxExperimentDuration (e.g. 30m, 2h, or seconds).")
_update_command("trialnum", "MAX_TRIAL_NUM", "maxTrialNumber", _positive_int, "Set maxTrialNumber.")


@update.command("searchspace")
@click.argument("exp_id", required=False)
@click.option("--filename", "-f", required=True, type=click.Path(exists=True, dir_okay=False),
              help="search space JSON (or YAML) file")
@json_option
def update_searchspace(exp_id: Optional[str], filename: str, as_json: bool) -> None:
    """Replace the search space (the tuner continues with the new one)."""
    space = load_file(filename)
    exp_id, client = client_for(exp_id)
    client.update("SEARCH_SPACE", "searchSpace", space)
    report({"id": exp_id, "searchSpace": space}, as_json,
           f"experiment {exp_id}: search space replaced ({len(space)} parameters)")

