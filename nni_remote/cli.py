"""``nni-remote``: nnictl-style verbs over the same REST client as ``Experiment``.

Commands raise :class:`CliError` (or a project error, turned into one) and
never print-and-exit; click prints the message and exits with its code.
"""
from __future__ import annotations

import json
import sys
import time
from typing import Any, Optional

import click

from nni_remote.client import RestClient
from nni_remote.config import ExperimentConfig
from nni_remote.errors import ExperimentNotRunning, NniRemoteError
from nni_remote.manager import registry


class CliError(click.ClickException):
    """A user-facing CLI failure with its exit code."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _running_entries() -> dict[str, dict[str, Any]]:
    return {k: v for k, v in registry.all_entries().items() if v.get("status") != "STOPPED" and v.get("port")}


def _client_for(exp_id: Optional[str]) -> tuple[str, RestClient]:
    """The REST client of a running experiment (the only one when ``exp_id`` is None)."""
    running = _running_entries()
    if exp_id is None:
        if len(running) != 1:
            names = ", ".join(running) or "none"
            raise CliError(f"name the experiment: {len(running)} are running ({names})", 2)
        exp_id = next(iter(running))
    entry = running.get(exp_id)
    if entry is None:
        known = registry.get_entry(exp_id)
        if known is None:
            raise CliError(f"no experiment {exp_id!r}; see `nni-remote experiment list`", 2)
        raise CliError(f"experiment {exp_id} is not running (status {known.get('status')}); "
                       f"`nni-remote resume {exp_id}` or `nni-remote view {exp_id}`", 3)
    return exp_id, RestClient(int(entry["port"]))


def _emit(data: Any, as_json: bool, table: Optional[list[list[Any]]] = None,
          headers: Optional[list[str]] = None) -> None:
    if as_json or table is None:
        click.echo(json.dumps(data, indent=2))
        return
    rows = [[str(c) for c in r] for r in table]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers or [])]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers or [], widths)))
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)))


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except ExperimentNotRunning as exc:
            raise CliError(str(exc), 3)
        except NniRemoteError as exc:
            raise CliError(str(exc), 1)


@click.group(cls=_Group)
@click.version_option(package_name="nni-remote")
def main() -> None:
    """Run hyper-parameter tuning experiments locally or on many machines over SSH."""


@main.command()
@click.option("--config", "-c", "config_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="NNI v2 YAML/JSON config file")
@click.option("--port", "-p", default=8080, show_default=True, help="REST/portal port")
@click.option("--foreground", "-f", is_flag=True, help="wait until the experiment ends, with a progress bar")
@click.option("--id", "exp_id", default=None, help="experiment id (default: random)")
def create(config_path: str, port: int, foreground: bool, exp_id: Optional[str]) -> None:
    """Create and start an experiment from a config file."""
    from nni_remote.experiment import Experiment, RunMode
    exp = Experiment(ExperimentConfig.load(config_path), id=exp_id)
    exp.start(port, run_mode=RunMode.Background if foreground else RunMode.Detach)
    click.echo(f"experiment {exp.id} started: http://127.0.0.1:{port}")
    if foreground:
        ok = exp._wait_completion()
        _print_best(exp)
        exp.stop()
        if ok is False:
            raise CliError(f"experiment {exp.id} ended in ERROR", 4)


def _print_best(exp: Any) -> None:
    from nni_remote.manager.trials import scalar
    from nni_remote.progress import _maximize
    params = exp.get_experiment_profile()["params"]
    results = [(scalar(r.value), r) for r in exp.export_data()]
    results = [(v, r) for v, r in results if v is not None]
    if not results:
        click.echo("no trial reported a final result")
        return
    value, best = (max if _maximize(params) else min)(results, key=lambda x: x[0])
    click.echo(f"best trial {best.trialJobId}: {value:.6g} with {json.dumps(best.parameter)}")


@main.command()
@click.argument("exp_id", required=False)
@click.option("--all", "stop_all", is_flag=True, help="stop every running experiment")
def stop(exp_id: Optional[str], stop_all: bool) -> None:
    """Stop a running experiment (trials are killed, state is kept for resume)."""
    targets = list(_running_entries()) if stop_all else [_client_for(exp_id)[0]]
    for target in targets:
        _, client = _client_for(target)
        client.delete("experiment", timeout=60)
        _wait_stopped(target)
        click.echo(f"experiment {target} stopped")


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
@click.option("--foreground", "-f", is_flag=True)
def resume(exp_id: str, port: int, foreground: bool) -> None:
    """Resume a stopped experiment."""
    from nni_remote.experiment import Experiment, RunMode
    exp = Experiment(None, id=exp_id)
    exp._prepare_existing("resume")
    exp.start(port, run_mode=RunMode.Background if foreground else RunMode.Detach)
    click.echo(f"experiment {exp_id} resumed: http://127.0.0.1:{port}")
    if foreground:
        exp._wait_completion()
        exp.stop()


@main.command()
@click.argument("exp_id")
@click.option("--port", "-p", default=8080, show_default=True)
def view(exp_id: str, port: int) -> None:
    """Open a stopped experiment read-only (detached; stop it with `nni-remote stop`)."""
    from nni_remote.experiment import Experiment
    Experiment(None, id=exp_id).view(port, non_blocking=True)
    click.echo(f"experiment {exp_id} viewed read-only: http://127.0.0.1:{port}")


@main.group()
def experiment() -> None:
    """Experiments in the registry."""


@experiment.command("list")
@click.option("--all", "show_all", is_flag=True, help="include stopped experiments")
@click.option("--json", "as_json", is_flag=True)
def experiment_list(show_all: bool, as_json: bool) -> None:
    """List experiments (running ones unless --all)."""
    entries = [e for e in registry.all_entries().values() if show_all or e.get("status") != "STOPPED"]
    table = [[e["id"], e.get("experimentName") or "", e.get("status"), e.get("port") or "", e.get("platform"),
              _fmt_time(e.get("startTime"))] for e in entries]
    _emit(entries, as_json, table, ["ID", "NAME", "STATUS", "PORT", "PLATFORM", "STARTED"])


def _fmt_time(ms: Any) -> str:
    if not isinstance(ms, (int, float)):
        return str(ms or "")
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


@main.group()
def trial() -> None:
    """Trials of a running experiment."""


@trial.command("ls")
@click.argument("exp_id", required=False)
@click.option("--status", default=None, help="only trials with this status")
@click.option("--json", "as_json", is_flag=True)
def trial_ls(exp_id: Optional[str], status: Optional[str], as_json: bool) -> None:
    """List trials: status, machine, parameters, final metric, and why waiting ones wait."""
    from nni_remote.manager.trials import decode_metric
    _, client = _client_for(exp_id)
    jobs = client.get("trial-jobs", params={"status": status} if status else None)
    table = []
    for j in jobs:
        params = json.loads(j["hyperParameters"][0]).get("parameters") if j.get("hyperParameters") else {}
        final = j.get("finalMetricData") or []
        value = decode_metric(final[0]["data"]) if final else ""
        table.append([j["trialJobId"], j["sequenceId"], j["status"], j.get("machine") or "",
                      json.dumps(params)[:60], value, j.get("message", "")])
    _emit(jobs, as_json, table, ["ID", "SEQ", "STATUS", "MACHINE", "PARAMETERS", "FINAL", "MESSAGE"])


@trial.command("kill")
@click.argument("trial_id")
@click.option("--experiment", "exp_id", default=None)
def trial_kill(trial_id: str, exp_id: Optional[str]) -> None:
    """Kill one trial (its whole process group)."""
    _, client = _client_for(exp_id)
    client.delete(f"trial-jobs/{trial_id}")
    click.echo(f"trial {trial_id} killed")


if __name__ == "__main__":
    sys.exit(main())
