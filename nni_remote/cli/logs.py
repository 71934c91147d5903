"""``nni-remote log``: a trial's stdout / stderr / trial.log, the manager's logs; ``--follow``.

nnictl's spellings work: ``log trial [EXP] --trial_id T`` and ``log stdout|stderr
[EXP] --head N --tail N --path``. With ``--json`` the text comes back in one JSON
object; with ``--json --follow`` each appended piece is one JSON line.
"""
from __future__ import annotations

import json
import os
import time
from typing import Any, Optional

import click

from nni_remote.cli.base import (EXIT_FAILED, EXIT_NOT_RUNNING, CliError, client_for, emit, exp_dir, json_option,
                                 main, resolve, running_entries)
from nni_remote.common import registry


@main.group()
def log() -> None:
    """Show (or follow) a trial's output or the manager's logs."""


follow_option = click.option("--follow", "-f", is_flag=True, help="keep printing what is appended")
head_option = click.option("--head", "-H", "head_lines", type=int, default=None, help="only the first N lines")
path_option = click.option("--path", "show_path", is_flag=True, help="print the file's path instead of its text")


class _Out:
    """Where log text goes: plain, or as JSON (one object, or one line per piece when following)."""

    def __init__(self, as_json: bool, follow: bool, about: dict[str, Any]) -> None:
        self.as_json, self.follow, self.about = as_json, follow, about

    def text(self, text: str, head: Optional[int] = None, tail: Optional[int] = None) -> None:
        lines = text.splitlines(keepends=True)
        if head is not None:
            lines = lines[:max(head, 0)]
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        self.piece("".join(lines), first=True)

    def piece(self, text: str, first: bool = False) -> None:
        if self.as_json:
            if self.follow:
                click.echo(json.dumps({**self.about, "text": text}))
            elif first:
                emit({**self.about, "text": text}, True)
        elif text:
            click.echo(text, nl=first and not text.endswith("\n"))


@log.command("trial")
@click.argument("arg", required=False, metavar="[TRIAL_ID | EXPERIMENT_ID]")
@click.option("--trial_id", "-T", "trial_opt", default=None,
              help="the trial (nnictl's spelling; the argument is then the experiment)")
@click.option("--experiment", "exp_opt", default=None, help="experiment id (default: the running one)")
@click.option("--file", "name", default="stdout", show_default=True,
              help="stdout, stderr, trial.log, or another file of the trial")
@head_option
@click.option("--tail", "tail_lines", type=int, default=None, help="only the last N lines")
@path_option
@follow_option
@json_option
def log_trial(arg: Optional[str], trial_opt: Optional[str], exp_opt: Optional[str], name: str,
              head_lines: Optional[int], tail_lines: Optional[int], show_path: bool, follow: bool,
              as_json: bool) -> None:
    """A trial's stdout / stderr / trial.log; --follow until the trial ends.

    ``log trial TRIAL`` prints the trial's output. As in nnictl, ``log trial
    [EXP] -T TRIAL --path`` prints where the trial's files are, and ``log trial
    EXP`` (an experiment id) lists every trial's log path.
    """
    exp_id, trial_id = exp_opt, arg
    if trial_opt is not None:
        exp_id, trial_id = exp_opt or arg, trial_opt
    elif arg is not None and exp_opt is None and arg in registry.all_entries():
        exp_id, trial_id = arg, None
    if trial_id is None:
        _, client = client_for(exp_id)
        paths = {j["trialJobId"]: j.get("logPath") for j in client.get("trial-jobs")}
        if as_json:
            emit(paths, True)
        else:
            click.echo("\n".join(f"{t} {p or ''}".rstrip() for t, p in paths.items()) or "no trials")
        return
    name = {"stdout": "trial.stdout", "stderr": "trial.stderr", "log": "trial.log"}.get(name, name)
    exp_id = resolve(exp_id)
    out = _Out(as_json, follow, {"id": exp_id, "trial": trial_id, "file": name})
    if exp_id not in running_entries():
        path = os.path.join(exp_dir(exp_id), "trials", trial_id, name)
        if not os.path.isfile(path):
            raise CliError(f"experiment {exp_id} is not running and {path} does not exist; "
                           f"`nni-remote view {exp_id}` to read a remote trial's files", EXIT_NOT_RUNNING)
        if show_path:
            out.about["path"] = path
            out.text("")
            return
        _print_local(path, out, head_lines, tail_lines, follow=False)
        return
    _, client = client_for(exp_id)
    if show_path:
        log_path = client.get(f"trial-jobs/{trial_id}").get("logPath")
        if as_json:
            emit({**out.about, "path": log_path}, True)
        else:
            click.echo(log_path)
        return
    first = client.trial_tail(trial_id, name, 1024 * 1024)
    if not first["exists"] and not follow:
        raise CliError(f"trial {trial_id} has no {name} (yet)", EXIT_FAILED)
    out.text(first["text"], head_lines, tail_lines)
    offset = first["size"]
    while follow:
        status = client.trial(trial_id)["status"]
        while True:  # everything appended so far (a finished trial's last lines included)
            chunk = client.trial_tail(trial_id, name, 1024 * 1024, offset)
            if chunk["size"] < offset:  # truncated or rewritten: start over
                offset = 0
                continue
            if chunk["text"]:
                out.piece(chunk["text"])
            offset = chunk["next"]
            if offset >= chunk["size"] or not chunk["text"]:
                break
        if status not in ("WAITING", "RUNNING"):
            return
        time.sleep(0.5)


def _print_local(path: str, out: _Out, head_lines: Optional[int], tail_lines: Optional[int], follow: bool,
                 exp_id: Optional[str] = None) -> None:
    with open(path, "rb") as f:
        out.text(f.read().decode("utf-8", "replace"), head_lines, tail_lines)
        while follow:
            chunk = f.read()
            if chunk:
                out.piece(chunk.decode("utf-8", "replace"))
                continue
            if exp_id is not None and exp_id not in running_entries():
                return
            time.sleep(0.3)


def _manager_log_command(name: str, filename: str, help_text: str) -> None:
    @log.command(name, help=help_text)
    @click.argument("exp_id", required=False)
    @head_option
    @click.option("--tail", "-T", "tail_lines", type=int, default=None, help="only the last N lines")
    @path_option
    @follow_option
    @json_option
    def command(exp_id: Optional[str], head_lines: Optional[int], tail_lines: Optional[int], show_path: bool,
                follow: bool, as_json: bool) -> None:
        exp_id = resolve(exp_id)
        path = os.path.join(exp_dir(exp_id), "log", filename)
        out = _Out(as_json, follow, {"id": exp_id, "file": filename, "path": path})
        if show_path:
            if as_json:
                emit(out.about, True)
            else:
                click.echo(path)
            return
        if not os.path.isfile(path):
            raise CliError(f"{path} does not exist", EXIT_FAILED)
        _print_local(path, out, head_lines, tail_lines, follow, exp_id)


_manager_log_command("manager", "nnimanager.log", "The manager's log (nnimanager.log); --follow until it stops.")
_manager_log_command("dispatcher", "dispatcher.log", "The tuner's and assessor's log (dispatcher.log).")
_manager_log_command("stdout", "nnictl_stdout.log", "The manager process's standard output (nnictl's `log stdout`).")
_manager_log_command("stderr", "nnictl_stderr.log", "The manager process's standard error (nnictl's `log stderr`).")
