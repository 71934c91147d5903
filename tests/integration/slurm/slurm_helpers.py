"""Shared pieces of the Slurm tests: an example's unchanged config pointed at the rig, where trials ran."""
from __future__ import annotations

import json
import os
import shutil
import textwrap
from typing import Any

import yaml

from nni_remote import Experiment, ExperimentConfig
from tests.integration.local.conftest import wait_for
from tests.integration.remote.remote_helpers import start as start

__all__ = ["slurm_block", "example_config", "code_config", "start", "wait_done", "started", "our_jobs"]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def slurm_block(rig: Any, **extra: Any) -> dict[str, Any]:
    """``trainingService`` for the rig: ``platform: slurm`` plus the cluster fields (login node, partition)."""
    return {"platform": "slurm", **rig.config_fields(), **extra}


def example_config(rig: Any, example: str, tmp_path: Any, **extra: Any) -> ExperimentConfig:
    """An ``examples/<example>`` folder copied as is; its config.yml differs only in ``trainingService``."""
    folder = tmp_path / example
    shutil.copytree(os.path.join(REPO, "examples", example), folder)
    path = folder / "config.yml"
    data = yaml.safe_load(path.read_text())
    assert data["trainingService"] == {"platform": "local"}
    data["trainingService"] = slurm_block(rig, **extra)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return ExperimentConfig.load(str(path))


def code_config(rig: Any, tmp_path: Any, trial: str, space: dict, **fields: Any) -> ExperimentConfig:
    """A config around a small trial script (``trial.py``) for fault tests."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "trial.py").write_text(textwrap.dedent(trial))
    ts = fields.pop("training_service", {})
    base: dict[str, Any] = dict(trial_command="python3 trial.py", trial_code_directory=str(code),
                                search_space=space, tuner={"name": "GridSearch"},
                                training_service=slurm_block(rig, **ts))
    base.update(fields)
    return ExperimentConfig(**base)


def wait_done(exp: Experiment, timeout: float = 180.0) -> str:
    return wait_for(lambda: exp.get_status() in ("DONE", "ERROR") and exp.get_status(), timeout,
                    interval=0.2, what="experiment end")


def started(rig: Any, exp_id: str) -> dict[str, list[dict[str, Any]]]:
    """Per trial, the ``started.json`` of each attempt (node, job) from the shared filesystem."""
    out = rig.login_run(f"cd nni-remote/{exp_id}/trials 2>/dev/null || exit 0; "
                        "for f in */.agent*/started.json; do [ -f \"$f\" ] && echo \"$f $(cat $f)\"; done; exit 0")
    found: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for line in out.splitlines():
        path, _, text = line.partition(" ")
        trial, state_dir = path.split("/")[:2]
        attempt = int(state_dir.rpartition(".")[2]) if state_dir != ".agent" else 0
        found.setdefault(trial, []).append((attempt, json.loads(text)))
    return {trial: [info for _, info in sorted(items, key=lambda x: x[0])] for trial, items in found.items()}


def our_jobs(rig: Any, exp_id: str) -> list[str]:
    """Jobs of this experiment that Slurm still lists as queued or running."""
    out = rig.squeue("-h", "-o", "%i %j")
    return [line for line in out.splitlines() if f"nni-{exp_id}-" in line]
