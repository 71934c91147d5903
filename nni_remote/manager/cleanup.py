"""Finish the host cleanup that ``stop`` could not do (see ``nni_remote/common/cleanup_record.py``).

:func:`retry_pending` rebuilds the experiment's training service from its
stored config and runs ``clean_machine`` for every host still recorded as
pending, in parallel; hosts cleaned are dropped from the record. It runs in
the manager when an experiment is resumed, and in ``python -m
nni_remote.manager --action cleanup`` that every later ``nni-remote`` command
on the experiment starts.
"""
from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from nni_remote.common.cleanup_record import pending, record

log = logging.getLogger("nni_remote.cleanup")


def retry_pending(exp_dir: str, exp_id: str) -> dict[str, dict[str, Any]]:
    """Try every pending host's cleanup again (in parallel); returns what is still pending."""
    data = pending(exp_dir)
    if not data:
        return data
    from nni_remote.config import ExperimentConfig, SecretBox
    from nni_remote.manager.store import Store
    from nni_remote.services.platforms import get_platform
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
    if config.training_service is None:
        return data
    service = get_platform(config.training_service.platform).service_class(config, exp_dir, exp_id)
    names = [n for n in data if n in {m.name for m in service.machines()}]
    with ThreadPoolExecutor(max_workers=min(16, len(names) or 1)) as pool:
        results = dict(zip(names, pool.map(service.clean_machine, names)))
    failed = {n: why for n, why in results.items() if why}
    cleaned = [n for n in data if n not in failed]
    for name in cleaned:
        log.info("%s: pending cleanup done", name)
    return record(exp_dir, failed, cleaned=cleaned)
