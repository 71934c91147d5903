"""Cleanup that ``stop`` could not finish, recorded and retried until it succeeds.

When ``stop`` cannot reach a host (partition, power cut), the trials and agent
there may run on once the host is back. The hosts whose cleanup is pending
are written to ``<experiment dir>/cleanup-pending.json`` (machine → since,
last error); every later ``nni-remote`` command that names the experiment,
and ``resume``, retries them (:func:`retry_pending`) and removes each host
from the record once its cleanup succeeded. Meanwhile an agent there that
reads the ``stopped`` mark ends its trials by itself.
"""
from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger("nni_remote.cleanup")
PENDING_FILE = "cleanup-pending.json"


def pending(exp_dir: str) -> dict[str, dict[str, Any]]:
    """``{machine: {"since": epoch seconds, "error": text}}`` of hosts still to clean (empty if none)."""
    try:
        with open(os.path.join(exp_dir, PENDING_FILE), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record(exp_dir: str, failures: dict[str, str], cleaned: Any = ()) -> dict[str, dict[str, Any]]:
    """Add ``failures`` (machine → error) to the record and drop ``cleaned`` machines; returns the record."""
    data = pending(exp_dir)
    for name in cleaned:
        data.pop(name, None)
    now = time.time()
    for name, error in failures.items():
        data[name] = {"since": data.get(name, {}).get("since", now), "error": error}
    path = os.path.join(exp_dir, PENDING_FILE)
    if not data:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return data
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f)
    os.replace(tmp, path)
    return data


def describe(data: dict[str, dict[str, Any]]) -> str:
    """One line per host: ``host: pending since HH:MM:SS (last error)``."""
    return "; ".join(f"{name}: cleanup pending since {time.strftime('%H:%M:%S', time.localtime(v.get('since', 0)))}"
                     f" ({v.get('error', '')})" for name, v in sorted(data.items()))


def retry_pending(exp_dir: str, exp_id: str) -> dict[str, dict[str, Any]]:
    """Try every pending host's cleanup again (in parallel); returns what is still pending."""
    data = pending(exp_dir)
    if not data:
        return data
    from nni_remote.config import ExperimentConfig, SecretBox
    from nni_remote.manager.process import make_service
    from nni_remote.manager.store import Store
    store = Store(os.path.join(exp_dir, "db", "nni.sqlite"))
    try:
        profile = store.load_profile()
        blob = store.get_meta("secrets")
    finally:
        store.close()
    if profile is None:
        return data
    masked = profile["params"]
    config = ExperimentConfig.from_json(SecretBox().unseal_config(masked, blob) if blob else masked)
    service = make_service(config, exp_dir, exp_id)
    names = [n for n in data if n in {m.name for m in service.machines()}]
    with ThreadPoolExecutor(max_workers=min(16, len(names) or 1)) as pool:
        results = dict(zip(names, pool.map(service.clean_machine, names)))
    failed = {n: why for n, why in results.items() if why}
    cleaned = [n for n in data if n not in failed]
    for name in cleaned:
        log.info("%s: pending cleanup done", name)
    return record(exp_dir, failed, cleaned=cleaned)
