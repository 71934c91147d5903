"""Algorithms registered with ``nnictl algo register`` or ``nni-remote algo register``.

Both tools keep them in one file, NNI's ``registered_algorithms.yml`` in NNI's
config directory: ``$NNI_CONFIG_DIR`` when set; else ``<sys.prefix>/nni``
inside a virtualenv or conda environment; else ``~/.config/nni``. The file
maps ``tuners`` / ``assessors`` (and NNI 2.5's ``advisors``) to lists of
entries with NNI's keys: ``builtinName``, ``className``, and optionally
``alias``, ``classArgs``, ``classArgsValidator``, ``acceptClassArgs``,
``isAdvisor``, ``source`` (``user``), ``nniVersion``. Advisors are stored
under ``tuners`` with ``isAdvisor: true``, as NNI 3.0 writes them.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import yaml

from ..errors import TunerError

__all__ = ["FILE_NAME", "config_directory", "find_registered", "load_registered", "register", "registered_names",
           "registry_file", "unregister"]

FILE_NAME = "registered_algorithms.yml"
_SECTIONS = ("tuners", "assessors", "advisors")


def config_directory() -> Path:
    """NNI's config directory, by NNI's rule (module docstring)."""
    configured = os.environ.get("NNI_CONFIG_DIR")
    if configured:
        return Path(configured)
    if sys.prefix != sys.base_prefix or Path(sys.prefix, "conda-meta").is_dir():
        return Path(sys.prefix, "nni")
    return Path.home() / ".config" / "nni"


def registry_file() -> Path:
    """The path of ``registered_algorithms.yml`` (it need not exist)."""
    return config_directory() / FILE_NAME


def _algo_type(section: str, entry: dict[str, Any]) -> str:
    if section == "assessors":
        return "assessor"
    return "advisor" if section == "advisors" or entry.get("isAdvisor") else "tuner"


def load_registered() -> list[dict[str, Any]]:
    """Every user-registered entry (NNI's keys plus ``algoType``), in file order."""
    path = registry_file()
    if not path.exists():
        return []
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise TunerError(f"cannot read the registered algorithms in {path}: {exc}") from exc
    if not isinstance(content, dict):
        raise TunerError(f"{path} must map tuners/assessors to lists of algorithms; fix or delete it")
    entries = []
    for section in _SECTIONS:
        for entry in content.get(section) or []:
            if isinstance(entry, dict) and entry.get("source") != "nni" and entry.get("builtinName"):
                entries.append({**entry, "algoType": _algo_type(section, entry)})
    return entries


def _save(entries: list[dict[str, Any]]) -> None:
    sections: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        stored = {k: v for k, v in entry.items() if k != "algoType"}
        if entry["algoType"] == "advisor":
            stored["isAdvisor"] = True
        sections.setdefault("assessors" if entry["algoType"] == "assessor" else "tuners", []).append(stored)
    path = registry_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(sections, default_flow_style=False), encoding="utf-8")
    os.replace(tmp, path)


def register(meta: dict[str, Any]) -> bool:
    """Add or replace one entry (``meta`` with NNI's keys and ``algoType``); True if it replaced one."""
    name = meta["builtinName"]
    entries = load_registered()
    kept = [e for e in entries if e["builtinName"] != name]
    entry = {"builtinName": name}
    for key in ("alias", "className", "acceptClassArgs", "classArgs", "classArgsValidator"):
        if meta.get(key) is not None:
            entry[key] = meta[key]
    if meta["algoType"] == "advisor":
        entry["isAdvisor"] = True
    entry["source"] = "user"
    if meta.get("nniVersion") is not None:
        entry["nniVersion"] = meta["nniVersion"]
    _save([*kept, {**entry, "algoType": meta["algoType"]}])
    return len(kept) != len(entries)


def unregister(name: str) -> bool:
    """Remove the entry named ``name`` (exact name, as NNI); False if there was none."""
    entries = load_registered()
    kept = [e for e in entries if e["builtinName"] != name]
    if len(kept) != len(entries):
        _save(kept)
    return len(kept) != len(entries)


def _matches(entry: dict[str, Any], name: str) -> bool:
    names = [entry.get("builtinName"), entry.get("alias")]
    return any(isinstance(n, str) and n.lower() == name.lower() for n in names)


def _fits(entry: dict[str, Any], kind: str) -> bool:
    return bool((entry["algoType"] == "assessor") == (kind == "assessor"))


def registered_names(kind: str) -> list[str]:
    """Registered names usable as ``kind`` (tuner names include advisors)."""
    try:
        return [e["builtinName"] for e in load_registered() if _fits(e, kind)]
    except TunerError:
        return []


def find_registered(name: str, kind: str) -> Any:
    """``(name, Builtin)`` for a registered algorithm usable as ``kind``, or ``None``."""
    from .registry import Builtin
    for entry in load_registered():
        if _matches(entry, name) and _fits(entry, kind):
            class_name = str(entry.get("className") or "")
            module, _, cls = class_name.rpartition(".")
            if not module:
                raise TunerError(f"registered {entry['algoType']} {entry['builtinName']!r} has className "
                                 f"{class_name!r}, not 'module.Class'; fix it in {registry_file()}")
            class_args = entry.get("classArgs")
            defaults: dict[str, Any] = class_args if isinstance(class_args, dict) else {}
            return entry["builtinName"], Builtin(module, cls, defaults, advisor=entry["algoType"] == "advisor",
                                                 validator=str(entry.get("classArgsValidator") or ""))
    return None
