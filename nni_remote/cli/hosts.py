"""Removing an experiment's files from its remote machines (``experiment delete --hosts``).

The machines and their credentials come from the experiment's own database
(secrets unsealed with this user's key, as ``resume`` does). One host that
cannot be reached never hides the others: each gets its own result.
"""
from __future__ import annotations

import shlex
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def remote_machines(directory: str) -> list[Any]:
    """The machine configs of the experiment stored in ``directory`` (none for a local experiment)."""
    from nni_remote.cli.base import stored
    from nni_remote.config import ExperimentConfig, SecretBox
    profile, blob = stored(directory, "secrets")
    if not profile:
        return []
    params = profile["params"]
    if (params.get("trainingService") or {}).get("platform") != "remote":
        return []
    full = SecretBox().unseal_config(params, blob) if blob else params
    return list(ExperimentConfig.from_json(full).machines)


def remove_host_files(machines: list[Any], exp_id: str) -> list[dict[str, Any]]:
    """``rm -rf ~/nni-remote/<exp_id>`` on every machine: ``[{"host", "ok", "error"?}]``."""
    from nni_remote.errors import NniRemoteError
    from nni_remote.services.remote import machine_names
    from nni_remote.services.ssh import SshConnection, SshTarget

    def one(pair: tuple[str, Any]) -> dict[str, Any]:
        name, machine = pair
        conn = SshConnection(SshTarget.from_machine(machine, name=name), connect_timeout=10.0, op_timeout=30.0)
        try:
            conn.run('rm -rf "$HOME"/nni-remote/' + shlex.quote(exp_id), timeout=60)
            return {"host": name, "ok": True, "path": f"~/nni-remote/{exp_id}"}
        except NniRemoteError as exc:
            return {"host": name, "ok": False, "path": f"~/nni-remote/{exp_id}", "error": str(exc)}
        finally:
            conn.close()

    pairs = list(zip(machine_names(machines), machines))
    if not pairs:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(pairs))) as pool:
        return list(pool.map(one, pairs))
