"""``nni-remote log``: a trial's stdout / stderr / trial.log, the manager's log; ``--follow``."""
from __future__ import annotations

import os
import time
from typing import Optional

import click

from nni_remote.cli.base import (EXIT_FAILED, EXIT_NOT_RUNNING, CliError, client_for, exp_dir, main, resolve,
                                 running_entries)


# -- logs ---------------------------------------------------------------------------
@main.group()
def log() -> None:
    """Show (or follow) a trial's output or the manager's log."""


follow_option = click.option("--follow", "-f", is_flag=True, help="keep printing what is appended")
tail_option = click.option("--tail", "-T", "tail_lines", type=int, default=None, help="only the last N lines")


@log.command("trial")
@click.argument("trial_id")
@click.option("--experiment", "exp_id", default=None, help="experiment id (default: the running one)")
@click.option("--file", "name", default="stdout", show_default=True,
              help="stdout, stderr, trial.log, or another file of the trial")
@tail_option
@follow_option
def log_trial(trial_id: str, exp_id: Optional[str], name: str, tail_lines: Optional[int], follow: bool) -> None:
    """A trial's stdout / stderr / trial.log; --follow until the trial ends."""
    name = {"stdout": "trial.stdout", "stderr": "trial.stderr", "log": "trial.log"}.get(name, name)
    exp_id = resolve(exp_id)
    if exp_id not in running_entries():
        path = os.path.join(exp_dir(exp_id), "trials", trial_id, name)
        if not os.path.isfile(path):
            raise CliError(f"experiment {exp_id} is not running and {path} does not exist; "
                           f"`nni-remote view {exp_id}` to read a remote trial's files", EXIT_NOT_RUNNING)
        _print_local(path, tail_lines, follow=False)
        return
    _, client = client_for(exp_id)
    first = client.trial_tail(trial_id, name, 1024 * 1024)
    if not first["exists"] and not follow:
        raise CliError(f"trial {trial_id} has no {name} (yet)", EXIT_FAILED)
    _echo_tail(first["text"], tail_lines)
    offset = first["size"]
    while follow:
        status = client.trial(trial_id)["status"]
        while True:  # everything appended so far (a finished trial's last lines included)
            chunk = client.trial_tail(trial_id, name, 1024 * 1024, offset)
            if chunk["size"] < offset:  # truncated or rewritten: start over
                offset = 0
                continue
            if chunk["text"]:
                click.echo(chunk["text"], nl=False)
            offset = chunk["next"]
            if offset >= chunk["size"] or not chunk["text"]:
                break
        if status not in ("WAITING", "RUNNING"):
            return
        time.sleep(0.5)


def _echo_tail(text: str, tail_lines: Optional[int]) -> None:
    if tail_lines is not None:
        text = "".join(text.splitlines(keepends=True)[-tail_lines:]) if tail_lines > 0 else ""
    click.echo(text, nl=not text.endswith("\n") and bool(text))


def _print_local(path: str, tail_lines: Optional[int], follow: bool, exp_id: Optional[str] = None) -> None:
    with open(path, "rb") as f:
        _echo_tail(f.read().decode("utf-8", "replace"), tail_lines)
        while follow:
            chunk = f.read()
            if chunk:
                click.echo(chunk.decode("utf-8", "replace"), nl=False)
                continue
            if exp_id is not None and exp_id not in running_entries():
                return
            time.sleep(0.3)


def _manager_log_command(name: str, filename: str, help_text: str) -> None:
    @log.command(name, help=help_text)
    @click.argument("exp_id", required=False)
    @tail_option
    @follow_option
    def command(exp_id: Optional[str], tail_lines: Optional[int], follow: bool) -> None:
        exp_id = resolve(exp_id)
        path = os.path.join(exp_dir(exp_id), "log", filename)
        if not os.path.isfile(path):
            raise CliError(f"{path} does not exist", EXIT_FAILED)
        _print_local(path, tail_lines, follow, exp_id)


_manager_log_command("manager", "nnimanager.log", "The manager's log (nnimanager.log); --follow until it stops.")
_manager_log_command("stdout", "nnictl_stdout.log", "The manager process's standard output (nnictl's `log stdout`).")
_manager_log_command("stderr", "nnictl_stderr.log", "The manager process's standard error (nnictl's `log stderr`).")

