"""The training-service contract, passed by local mode and by remote mode on real sshd hosts.

The same test body runs against both platforms (STYLE.md practice 3): trials run
with NNI's environment, their files are served, the service reports its machines
as alive, and stopping leaves no process behind.
"""
from __future__ import annotations

import json
import os

import psutil
import pytest
import requests

from tests.integration.remote.remote_helpers import install_known_hosts, remote_config, start, wait_done

CONTRACT_TRIAL = '''
import json, os
import nni
p = nni.get_next_parameter()
print("hello from", os.environ["NNI_TRIAL_JOB_ID"], flush=True)
env = {k: v for k, v in os.environ.items() if k.startswith("NNI_")}
nni.report_intermediate_result(p["x"])
nni.report_final_result({"default": p["x"], "env": env, "cwd": os.getcwd()})
'''


@pytest.fixture(params=["local", "remote"])
def platform_config(request, tmp_path, isolated_home):
    if request.param == "local":
        config = remote_config(tmp_path, [], trial_concurrency=2, max_trial_number=4)
        config.training_service = None
        from nni_remote import LocalConfig
        config.training_service = LocalConfig()
        return request.param, config, None
    rig = request.getfixturevalue("rig_factory")(2, logins=["password", "key"])
    install_known_hosts(rig, str(isolated_home))
    return request.param, remote_config(tmp_path, [h.machine_config() for h in rig.hosts], trial_concurrency=2,
                                        max_trial_number=4), rig


def test_training_service_contract(platform_config, tmp_path, experiments):
    platform, config, rig = platform_config
    (tmp_path / "code" / "trial.py").write_text(CONTRACT_TRIAL)
    exp = start(config, experiments)
    assert wait_done(exp) == "DONE"
    jobs = exp.list_trial_jobs()
    assert len(jobs) == 4 and all(j.status == "SUCCEEDED" for j in jobs)
    for job in jobs:
        value = job.finalMetricData[0].data
        env = value["env"]
        assert env["NNI_PLATFORM"] == platform and env["NNI_EXP_ID"] == exp.id
        assert env["NNI_TRIAL_JOB_ID"] == job.trialJobId and env["NNI_TRIAL_SEQ_ID"] == str(job.sequenceId)
        assert env["NNI_SYS_DIR"] == env["NNI_OUTPUT_DIR"] and env["NNI_SYS_DIR"].endswith(job.trialJobId)
        assert env["NNI_CODE_DIR"] == value["cwd"]
        assert "NNI_TRIAL_COMMAND_CHANNEL" not in env
        stdout = exp._rest.request("GET", f"trial-file/{job.trialJobId}/stdout", raw=True).text
        assert f"hello from {job.trialJobId}" in stdout
        params = json.loads(exp._rest.request("GET", f"trial-file/{job.trialJobId}/parameter.cfg", raw=True).text)
        assert params["parameters"] == job.hyperParameters[0].parameters
        listing = requests.get(f"http://127.0.0.1:{exp.port}/api/v1/nni-remote/trials/{job.trialJobId}/files",
                               timeout=15).json()
        names = {f["name"]: f["size"] for f in listing["files"]}
        assert listing["listed"] and names["parameter.cfg"] > 0 and "trial.stdout" in names
    exp_dir = exp.get_experiment_profile()["logDir"]
    exp.stop()
    if platform == "local":
        with open(os.path.join(exp_dir, "agents", "local", "agent.log")) as f:
            assert "Traceback" not in f.read()
        assert not [p for p in psutil.process_iter(["cmdline"])
                    if exp_dir in " ".join(p.info["cmdline"] or [])], "agent or trial processes left behind"
    else:
        for host in rig.hosts:
            out = rig.run_on(host, f"ps -u {host.user} -o args=")
            assert "agent" not in out and "trial.py" not in out
