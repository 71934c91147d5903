"""Shared pieces of the remote-mode experiment tests: the trial, configs, waiting."""
from __future__ import annotations

import os
import shutil
import textwrap
from typing import Any, Callable, Optional

from nni_remote import Experiment, ExperimentConfig
from tests.conftest import free_port
from tests.integration.local.conftest import wait_for

TRIAL = textwrap.dedent('''
    import getpass, json, os, socket, time
    import nni
    p = nni.get_next_parameter()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("198.18.0.1", 9))          # UDP connect sends nothing: it only picks our address
    addr = s.getsockname()[0]
    s.close()
    steps, sleep = int(p.get("steps", 1)), float(p.get("sleep", 0))
    for i in range(steps):
        nni.report_intermediate_result(i)
        time.sleep(sleep / steps)
    nni.report_final_result({"default": p.get("x", 0), "user": getpass.getuser(), "addr": addr,
                             "cwd": os.getcwd(), "home": os.path.expanduser("~"), "pid": os.getpid()})
''')


def install_known_hosts(rig: Any, home: str, skip: tuple[str, ...] = ()) -> None:
    """Put the rig's host keys in ~/.ssh/known_hosts of the (isolated) HOME, except ``skip`` hosts."""
    ssh = os.path.join(home, ".ssh")
    os.makedirs(ssh, mode=0o700, exist_ok=True)
    lines = [h.host_key_line for h in rig.hosts if h.name not in skip]
    with open(os.path.join(ssh, "known_hosts"), "w") as f:
        f.write("\n".join(lines) + "\n")


def make_code_dir(tmp_path: Any) -> str:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "trial.py").write_text(TRIAL)
    (code / ".nniignore").write_text("data/\n*.ckpt\n")
    (code / "data").mkdir(exist_ok=True)
    (code / "data" / "huge.bin").write_bytes(b"0" * 1024)
    (code / "model.ckpt").write_bytes(b"weights")
    (code / "helper.py").write_text("VALUE = 1\n")
    return str(code)


def remote_config(tmp_path: Any, machines: list[dict], *, space: Optional[dict] = None, **fields: Any
                  ) -> ExperimentConfig:
    base: dict[str, Any] = dict(
        trial_command="python3 trial.py", trial_code_directory=make_code_dir(tmp_path), trial_concurrency=3,
        max_trial_number=6, experiment_working_directory=str(tmp_path / "exps"),
        search_space=space or {"x": {"_type": "uniform", "_value": [0, 1]}}, tuner={"name": "Random"},
        training_service={"platform": "remote", "machine_list": machines})
    base.update(fields)
    return ExperimentConfig(**base)


def start(config: ExperimentConfig, experiments: list) -> Experiment:
    exp = Experiment(config)
    experiments.append(exp)
    exp.start(free_port())
    return exp


def per_machine(machine: dict, **extra: Any) -> dict:
    m = dict(machine)
    m.update(extra)
    return m


def wait_done(exp: Experiment, timeout: float = 120.0) -> str:
    return wait_for(lambda: exp.get_status() in ("DONE", "ERROR") and exp.get_status(), timeout,
                    interval=0.2, what="experiment end")


def finals(exp: Experiment) -> dict[str, Any]:
    return {j.trialJobId: j.finalMetricData[0].data for j in exp.list_trial_jobs() if j.finalMetricData}


def agent_token(rig: Any, host: Any, exp_id: str) -> str:
    import json
    return json.loads(rig.run_on(host, f"cat nni-remote/{exp_id}/agent/head.json"))["token"]


def rig_by_address(rig: Any) -> dict[str, Any]:
    return {h.address: h for h in rig.hosts}


def leftover(rig: Any, host: Any) -> list[str]:
    """Trial or agent processes of the host's user (ps itself excluded)."""
    out = rig.run_on(host, f"ps -u {host.user} -o pid=,args=")
    return [line for line in out.splitlines() if "agent" in line or "trial.py" in line]


def cleanup(paths: list[str]) -> None:
    for p in paths:
        shutil.rmtree(p, ignore_errors=True)


__all__ = ["TRIAL", "install_known_hosts", "make_code_dir", "remote_config", "start", "per_machine", "wait_done",
           "finals", "agent_token", "rig_by_address", "leftover", "Callable"]
