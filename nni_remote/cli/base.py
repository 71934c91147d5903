"""The ``nni-remote`` group and what every command shares: exit codes, finding experiments, output.

Commands raise :class:`CliError` (or a project error, turned into one with its
exit code by :class:`_Group`) and never print-and-exit; click prints the
message and exits. Output is a human table by default and JSON with ``--json``.
"""
from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, NoReturn, Optional, Sequence

import click

from nni_remote.client import AccessDenied, RestClient
from nni_remote.errors import ConfigError, ExperimentNotFound, ExperimentNotRunning, NniRemoteError, TrialNotFound
from nni_remote.common import registry

EXIT_FAILED, EXIT_USAGE, EXIT_NOT_RUNNING, EXIT_EXPERIMENT_ERROR, EXIT_DENIED = 1, 2, 3, 4, 5
EXIT_CODES = """\b
Exit codes:
  0  success
  1  the operation failed or the manager refused it (read-only view, budget reached, ...)
  2  bad usage: unknown or ambiguous experiment or trial, invalid value or file
  3  the experiment is not running: resume or view it first
  4  the experiment ended in ERROR (create/resume --foreground)
  5  the manager wants its access token (see <experiment dir>/.portal-token)

\b
With --json, standard output holds only JSON, errors included:
  {"error": "<message>", "exitCode": <code>}
"""
FINISHED = ("DONE", "STOPPED", "ERROR")


class CliError(click.ClickException):
    """A user-facing CLI failure with its exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # click declares it on the class


class _Group(click.Group):
    """Turns project errors into :class:`CliError` with the documented exit code.

    With ``--json`` anywhere on the command line, every failure (usage errors
    included) is printed to standard output as ``{"error": ..., "exitCode": ...}``.
    """

    def main(self, args: Optional[Sequence[str]] = None, prog_name: Optional[str] = None,
             complete_var: Optional[str] = None, standalone_mode: bool = True, **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        if "--json" not in argv or not standalone_mode:
            return super().main(argv, prog_name, complete_var, standalone_mode, **extra)
        try:
            result = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:
            _json_error(exc.format_message(), exc.exit_code)
        except click.Abort:
            _json_error("aborted", EXIT_FAILED)
        except Exception as exc:  # a bug: still JSON on stdout, the traceback on stderr
            import traceback
            traceback.print_exc()
            _json_error(f"{exc.__class__.__name__}: {exc}", EXIT_FAILED)
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except ExperimentNotRunning as exc:
            raise CliError(str(exc), EXIT_NOT_RUNNING)
        except AccessDenied as exc:
            raise CliError(str(exc), EXIT_DENIED)
        except (TrialNotFound, ExperimentNotFound, ConfigError) as exc:
            raise CliError(str(exc), EXIT_USAGE)
        except NniRemoteError as exc:  # ReadOnlyError, budget reached, ...
            raise CliError(str(exc), EXIT_FAILED)


def _json_error(message: str, exit_code: int) -> NoReturn:
    click.echo(json.dumps({"error": message, "exitCode": exit_code}))
    sys.exit(exit_code)


json_option = click.option("--json", "as_json", is_flag=True, help="print JSON (for scripts) instead of a table")


# -- finding experiments ------------------------------------------------------------
def running_entries() -> dict[str, dict[str, Any]]:
    return {k: v for k, v in registry.all_entries().items() if v.get("status") != "STOPPED" and v.get("port")}


def match_id(exp_id: str, entries: dict[str, Any]) -> Optional[str]:
    """``exp_id`` itself, or the one entry it is a prefix of (nnictl also accepts ``prefix*``)."""
    if exp_id in entries:
        return exp_id
    prefix = exp_id.rstrip("*")
    found = [k for k in entries if k.startswith(prefix)]
    if len(found) > 1:
        raise CliError(f"{exp_id!r} matches several experiments ({', '.join(sorted(found))}); give more of the id",
                       EXIT_USAGE)
    return found[0] if found else None


def resolve(exp_id: Optional[str]) -> str:
    """The id of an experiment in the registry (running or not)."""
    entries = registry.all_entries()
    if exp_id is None:
        running = running_entries()
        if len(running) == 1:
            return next(iter(running))
        names = ", ".join(running) or "none"
        raise CliError(f"name the experiment: {len(running)} are running ({names}); "
                       "see `nni-remote experiment list --all`", EXIT_USAGE)
    found = match_id(exp_id, entries)
    if found is None:
        raise CliError(f"no experiment {exp_id!r}; see `nni-remote experiment list --all`", EXIT_USAGE)
    return found


def client_for(exp_id: Optional[str]) -> tuple[str, RestClient]:
    """The REST client of a running experiment (the only one when ``exp_id`` is None)."""
    exp_id = resolve(exp_id)
    entry = running_entries().get(exp_id)
    if entry is None:
        known = registry.get_entry(exp_id) or {}
        raise CliError(f"experiment {exp_id} is not running (status {known.get('status')}); "
                       f"`nni-remote resume {exp_id}` or `nni-remote view {exp_id}`", EXIT_NOT_RUNNING)
    return exp_id, RestClient(int(entry["port"]))


def exp_dir(exp_id: str) -> str:
    entry = registry.get_entry(exp_id) or {}
    return os.path.join(entry.get("logDir") or os.path.expanduser("~/nni-experiments"), exp_id)


def stored(directory: str, meta: Optional[str] = None) -> tuple[dict[str, Any], Optional[str]]:
    """The latest profile in ``<directory>/db/nni.sqlite`` ({} when none), and the ``meta`` value if asked."""
    from nni_remote.common.profile import read_stored
    db = os.path.join(directory, "db", "nni.sqlite")
    if not os.path.isfile(db):
        return {}, None
    profile, value = read_stored(db, meta)
    return profile or {}, value


# -- output -------------------------------------------------------------------------
def emit(data: Any, as_json: bool, table: Optional[list[list[Any]]] = None,
          headers: Optional[list[str]] = None) -> None:
    if as_json or table is None:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(format_table(table, headers or []))


def report(data: Any, as_json: bool, message: str) -> None:
    """A command's outcome: ``data`` as JSON with ``--json``, else one human line."""
    if as_json:
        emit(data, True)
    else:
        click.echo(message)


def format_table(rows: list[list[Any]], headers: list[str], width: int = 48) -> str:
    """Aligned columns; cells longer than ``width`` are cut, except in the last column (messages)."""
    last = len(headers) - 1
    cells = [[_cut(c, width if i < last else 10_000) for i, c in enumerate(r)] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(lines)


def _cut(value: Any, width: int) -> str:
    text = "" if value is None else str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[:width - 1] + "…"


def fmt_time(ms: Any) -> str:
    if not isinstance(ms, (int, float)):
        return str(ms or "")
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


def fmt_duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return ""
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return "" if value is None else str(value)


def fmt_params(params: Any) -> str:
    if isinstance(params, dict):
        return ", ".join(f"{k}={fmt_value(v)}" for k, v in params.items())
    return fmt_value(params)



# -- the group ----------------------------------------------------------------------
@click.group(cls=_Group, epilog=EXIT_CODES)
@click.version_option(None, "--version", "-v", package_name="nni-remote")
def main() -> None:
    """Run hyper-parameter tuning experiments locally or on many machines over SSH.

    Experiment ids may be abbreviated to a unique prefix, and left out when
    exactly one experiment is running.
    """


def load_file(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        return json.loads(text)
    except ValueError as exc:
        try:
            import yaml
            return yaml.safe_load(text)
        except Exception:
            raise CliError(f"{path} is not valid JSON: {exc}", EXIT_USAGE)

