"""Starting and stopping experiments, and changing them while they run: create, resume, view, stop, update."""
from __future__ import annotations

import json
import time
from typing import Any, Callable, Optional

import click

from nni_remote.cli.base import (EXIT_EXPERIMENT_ERROR, EXIT_USAGE, CliError, client_for, emit, json_option,
                                 load_file, main, match_id, report, running_entries)
from nni_remote.config import ExperimentConfig
from nni_remote.common import registry


@main.command()
@click.option("--config", "-c", "config_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="NNI v2 YAML/JSON config file")
@click.option("--port", "-p", default=8080, show_default=True, help="REST/portal port")
@click.option("--foreground", "-f", is_flag=True, help="wait until the experiment ends, with a progress bar")
@click.option("--id", "exp_id", default=None, help="experiment id (default: random)")
@json_option
def create(config_path: str, port: int, foreground: bool, exp_id: Optional[str], as_json: bool) -> None:
    """Create and start an experiment from a config file."""
    from nni_remote.experiment import Experiment, RunMode
    exp = Experiment(ExperimentConfig.load(config_path), id=exp_id)
    exp.start(port, run_mode=RunMode.Background if foreground else RunMode.Detach)
    url = f"http://127.0.0.1:{port}"
    if as_json and not foreground:
        emit({"id": exp.id, "port": port, "url": url}, True)
        return
    click.echo(f"experiment {exp.id} started: {url}")
    if foreground:
        _finish_foreground(exp, as_json)


def _finish_foreground(exp: Any, as_json: bool) -> None:
    ok = exp._wait_completion()
    status = exp.get_status() if exp.port is not None else "STOPPED"
    best = _best(exp)
    exp.stop()
    if as_json:
        emit({"id": exp.id, "status": status, "best": best}, True)
    elif best is None:
        click.echo("no trial reported a final result")
    else:
        click.echo(f"best trial {best['trialJobId']}: {best['value']:.6g} with {json.dumps(best['parameters'])}")
    if ok is False:
        raise CliError(f"experiment {exp.id} ended in ERROR; see `nni-remote log manager {exp.id}`",
                       EXIT_EXPERIMENT_ERROR)


def _best(exp: Any) -> Optional[dict[str, Any]]:
    top = exp._rest.overview().get("bestTrials") or []
    return top[0] if top else None


@main.command()
@click.argument("exp_id", required=False)
@click.option("--all", "-a", "stop_all", is_flag=True, help="stop every running experiment")
@json_option
def stop(exp_id: Optional[str], stop_all: bool, as_json: bool) -> None:
    """Stop a running experiment (trials are killed, state is kept for resume)."""
    targets = list(running_entries()) if stop_all else [client_for(exp_id)[0]]
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


@main.command()
@click.argument("exp_id")
@click.option("--port", "-p", default=8080, show_default=True)
@click.option("--foreground", "-f", is_flag=True, help="wait until the experiment ends")
@json_option
def resume(exp_id: str, port: int, foreground: bool, as_json: bool) -> None:
    """Resume a stopped experiment."""
    from nni_remote.experiment import Experiment, RunMode
    exp_id = match_id(exp_id, registry.all_entries()) or exp_id
    exp = Experiment(None, id=exp_id)
    exp._prepare_existing("resume")
    exp.start(port, run_mode=RunMode.Background if foreground else RunMode.Detach)
    if as_json and not foreground:
        emit({"id": exp_id, "port": port, "url": f"http://127.0.0.1:{port}"}, True)
        return
    click.echo(f"experiment {exp_id} resumed: http://127.0.0.1:{port}")
    if foreground:
        _finish_foreground(exp, as_json)


@main.command()
@click.argument("exp_id")
@click.option("--port", "-p", default=8080, show_default=True)
@json_option
def view(exp_id: str, port: int, as_json: bool) -> None:
    """Open a stopped experiment read-only (detached; stop it with `nni-remote stop`)."""
    from nni_remote.experiment import Experiment
    exp_id = match_id(exp_id, registry.all_entries()) or exp_id
    Experiment(None, id=exp_id).view(port, non_blocking=True)
    report({"id": exp_id, "port": port, "url": f"http://127.0.0.1:{port}"}, as_json,
           f"experiment {exp_id} viewed read-only: http://127.0.0.1:{port}")


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

