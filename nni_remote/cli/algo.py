"""``nni-remote algo register / list / show / unregister``: custom algorithms usable by name.

The registration is NNI's own file (``registered_algorithms.yml`` in NNI's
config directory, see :mod:`nni_remote.tuning.registered`), so an algorithm
registered here is listed by ``nnictl algo list`` and the other way round.
A registered name works in ``tuner``, ``assessor`` and ``advisor``
(``tuner: {name: demotuner}``); its ``className`` must be importable by the
manager's Python (install the package, as NNI requires).
"""
from __future__ import annotations

import importlib
import json
from typing import Any, Optional

import click
import yaml

from nni_remote.cli.base import EXIT_USAGE, CliError, json_option, main
from nni_remote.errors import TunerError
from nni_remote.tuning import registered
from nni_remote.tuning.registry import ALIASES, BUILTIN_ASSESSORS, BUILTIN_TUNERS, Builtin

_TYPES = ("tuner", "assessor", "advisor")


@main.group()
def algo() -> None:
    """Register custom tuners, assessors and advisors under a name (shared with nnictl algo)."""


def _builtin_metas() -> list[dict[str, Any]]:
    metas = []
    for table, kind in ((BUILTIN_TUNERS, "tuner"), (BUILTIN_ASSESSORS, "assessor")):
        aliases = {first: second for second, first in ALIASES.items()}
        for name, entry in table.items():
            if name in ALIASES:
                continue
            metas.append(_builtin_meta(name, entry, kind, aliases.get(name)))
    return metas


def _builtin_meta(name: str, entry: Builtin, kind: str, alias: Optional[str]) -> dict[str, Any]:
    meta: dict[str, Any] = {"builtinName": name}
    if alias:
        meta["alias"] = alias
    meta["className"] = f"{entry.module}.{entry.class_name}"
    if entry.defaults:
        meta["classArgs"] = dict(entry.defaults)
    if entry.advisor:
        meta["isAdvisor"] = True
    meta["source"] = "nni"
    meta["algoType"] = "advisor" if entry.advisor else kind
    return meta


def _all_metas() -> list[dict[str, Any]]:
    try:
        return _builtin_metas() + registered.load_registered()
    except TunerError as exc:
        raise CliError(str(exc))


def _find(name: str) -> Optional[dict[str, Any]]:
    for meta in _all_metas():
        names = [meta.get("builtinName"), meta.get("alias")]
        if any(isinstance(n, str) and n.lower() == name.lower() for n in names):
            return meta
    return None


def _existing(name: str) -> dict[str, Any]:
    meta = _find(name)
    if meta is None:
        raise CliError(f"no algorithm named {name!r}; see nni-remote algo list", EXIT_USAGE)
    return meta


def _read_meta_file(path: str) -> list[dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as f:
            content = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as exc:
        raise CliError(f"cannot read meta file {path}: {exc}", EXIT_USAGE)
    if not isinstance(content, dict):
        raise CliError(f"meta file {path}: must be a mapping with algoType, builtinName and className "
                       "(or 'algorithms:' with a list of them)", EXIT_USAGE)
    metas = content["algorithms"] if content.get("algorithms") else [content]
    for index, meta in enumerate(metas):
        where = f"meta file {path}" + (f", algorithms[{index}]" if content.get("algorithms") else "")
        if not isinstance(meta, dict):
            raise CliError(f"{where}: must be a mapping", EXIT_USAGE)
        if meta.get("algoType") not in _TYPES:
            raise CliError(f"{where}: algoType must be one of {', '.join(_TYPES)}, got {meta.get('algoType')!r}",
                           EXIT_USAGE)
        for key in ("builtinName", "className"):
            if not isinstance(meta.get(key), str) or not meta[key]:
                raise CliError(f"{where}: {key} is required (a string)", EXIT_USAGE)
        if "." not in meta["className"]:
            raise CliError(f"{where}: className must be 'module.Class', got {meta['className']!r}", EXIT_USAGE)
    return metas


def _verify_import(meta: dict[str, Any]) -> None:
    """As nnictl: the class (and its validator) must be importable now."""
    from nni_remote.tuning.loader import import_algorithm_module
    for key in ("className", "classArgsValidator"):
        if not meta.get(key):
            continue
        module, _, attr = str(meta[key]).rpartition(".")
        try:
            found = getattr(import_algorithm_module(module, None, f"{key} {meta[key]!r}"), attr, None)
        except TunerError as exc:
            raise CliError(f"{meta['builtinName']}: {exc}; install the package that provides it "
                           "(or put its folder on PYTHONPATH) and register again", EXIT_USAGE)
        if found is None:
            raise CliError(f"{meta['builtinName']}: module {module!r} has no {attr!r} ({key})", EXIT_USAGE)


@algo.command("register")
@click.option("--meta", "-m", "--meta_path", "meta_path", required=True, type=click.Path(dir_okay=False),
              help="YAML with algoType, builtinName, className (optional classArgsValidator, classArgs)")
@json_option
def register(meta_path: str, as_json: bool) -> None:
    """Register the algorithm(s) a meta file describes (replacing one of the same name)."""
    done = []
    for meta in _read_meta_file(meta_path):
        old = _find(meta["builtinName"])
        if old is not None and old.get("source") == "nni":
            raise CliError(f"cannot overwrite the built-in algorithm {old['builtinName']}; choose another "
                           "builtinName", EXIT_USAGE)
        importlib.invalidate_caches()
        _verify_import(meta)
        replaced = registered.register(meta)
        done.append({"name": meta["builtinName"], "algoType": meta["algoType"], "replaced": replaced})
        if not as_json:
            click.echo(f"{meta['builtinName']} {'updated' if replaced else 'registered'} "
                       f"({meta['algoType']}, in {registered.registry_file()})")
    if as_json:
        click.echo(json.dumps({"registered": done, "file": str(registered.registry_file())}))


@algo.command("unregister")
@click.argument("name")
@json_option
def unregister(name: str, as_json: bool) -> None:
    """Remove a registered algorithm (built-ins cannot be removed)."""
    meta = _existing(name)
    if meta.get("source") == "nni":
        raise CliError(f"{meta['builtinName']} is built in and cannot be unregistered", EXIT_USAGE)
    registered.unregister(meta["builtinName"])
    click.echo(json.dumps({"unregistered": meta["builtinName"]}) if as_json
               else f"{meta['builtinName']} unregistered")


@algo.command("show")
@click.argument("name")
@json_option
def show(name: str, as_json: bool) -> None:
    """Print one algorithm's registration (NNI's keys) as JSON."""
    meta = _existing(name)
    shown = {k: v for k, v in meta.items() if k != "algoType"}
    click.echo(json.dumps(shown) if as_json else json.dumps(shown, indent=4))


@algo.command("list")
@json_option
def list_algorithms(as_json: bool) -> None:
    """Built-in and registered algorithms: name, type, source, class."""
    metas = _all_metas()
    if as_json:
        click.echo(json.dumps([{"name": m["builtinName"], "algoType": m["algoType"], "source": m.get("source", "user"),
                                "className": m["className"]} for m in metas]))
        return
    rows = [(m["builtinName"], m["algoType"], "nni" if m.get("source") == "nni" else "user", m["className"])
            for m in metas]
    widths = [max(len(r[i]) for r in rows + [("Name", "Type", "Source", "Class")]) for i in range(4)]
    for row in [("Name", "Type", "Source", "Class")] + rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


algo.add_command(register, "reg")       # nnictl's short names
algo.add_command(unregister, "unreg")
