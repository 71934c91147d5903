"""Bad input: every bad config or search space names its field; bad trials never crash anything."""
from __future__ import annotations

import json
import math
import os

import pytest
import requests

from nni_remote import Experiment, ExperimentConfig
from nni_remote.errors import ConfigError
from tests.integration.local.conftest import wait_status

GOOD_SPACE = {"x": {"_type": "uniform", "_value": [0, 1]}}

# (overrides of a good config, the field path the error must name)
BAD_CONFIGS = [
    ({"trial_concurrency": 0}, "trialConcurrency"),
    ({"trial_concurrency": -3}, "trialConcurrency"),
    ({"trial_concurrency": "4"}, "trialConcurrency"),
    ({"trial_concurrency": 2.5}, "trialConcurrency"),
    ({"trial_concurrency": None}, "trialConcurrency"),
    ({"max_trial_number": 0}, "maxTrialNumber"),
    ({"max_trial_number": "ten"}, "maxTrialNumber"),
    ({"max_experiment_duration": "3600"}, "maxExperimentDuration"),
    ({"max_experiment_duration": "1y"}, "maxExperimentDuration"),
    ({"max_experiment_duration": "-1h"}, "maxExperimentDuration"),
    ({"max_trial_duration": "soon"}, "maxTrialDuration"),
    ({"trial_command": None}, "trialCommand"),
    ({"trial_code_directory": "/nonexistent/dir"}, "trialCodeDirectory"),
    ({"trial_gpu_number": -1}, "trialGpuNumber"),
    ({"log_level": "verbose"}, "logLevel"),
    ({"use_annotation": True}, "useAnnotation"),
    ({"debug": "yes"}, "debug"),
    ({"tuner": None}, "tuner"),
    ({"tuner": {"name": "TPE", "class_name": "a.B"}}, "tuner"),
    ({"tuner": {"class_name": "mod.Tuner", "code_directory": "/nonexistent"}}, "tuner.codeDirectory"),
    ({"training_service": {"platform": "openpai"}}, "trainingService"),
    ({"training_service": None}, "trainingService"),
    ({"training_service": {"platform": "local", "gpu_indices": "0,0"}}, "trainingService.gpuIndices"),
    ({"training_service": {"platform": "local", "max_trial_number_per_gpu": 2}},
     "trainingService.maxTrialNumberPerGpu"),
    ({"training_service": {"platform": "remote", "machine_list": []}}, "trainingService.machineList"),
    ({"training_service": {"platform": "remote", "machine_list": [{"host": "h", "user": "u", "port": 70000,
                                                                    "password": "p"}]}},
     "trainingService.machineList[0].port"),
    ({"training_service": {"platform": "remote", "machine_list": [{"host": "h", "user": "u",
                                                                    "ssh_key_file": "/no/key"}]}},
     "trainingService.machineList[0].sshKeyFile"),
    ({"search_space": None}, "searchSpace"),
    ({"search_space": {"x": {"_type": "uniform", "_value": [1, 0]}}}, "searchSpace.x"),
    ({"search_space": {"x": {"_type": "loguniform", "_value": [0, 1]}}}, "searchSpace.x"),
    ({"search_space": {"x": {"_type": "choice", "_value": []}}}, "searchSpace.x"),
    ({"search_space": {"x": {"_type": "quniform", "_value": [0, 1]}}}, "searchSpace.x"),
    ({"search_space": {"x": {"_type": "normal", "_value": [0, -1]}}}, "searchSpace.x"),
    ({"search_space": {"x": {"_type": "randint", "_value": [5, 5]}}}, "searchSpace.x"),
    ({"search_space": {"x": {"_type": "gaussian", "_value": [0, 1]}}}, "searchSpace.x"),
    ({"search_space": {"x": {"_value": [0, 1]}}}, "searchSpace.x"),
    ({"search_space": {"x": [0, 1]}}, "searchSpace.x"),
    ({"search_space": {"l": {"_type": "choice", "_value": [
        {"_name": "conv", "k": {"_type": "uniform", "_value": [3, 1]}}]}}}, "searchSpace.l"),
]


@pytest.mark.parametrize("overrides,path", BAD_CONFIGS, ids=[p for _, p in BAD_CONFIGS])
def test_bad_config_names_the_field(make_config, overrides, path):
    with pytest.raises(ConfigError) as info:
        Experiment(make_config(**overrides)).start(1)  # fails before any port is touched
    assert path in str(info.value), str(info.value)


def test_bad_yaml_keys_and_unknown_tuner(tmp_path, launch, make_config):
    bad = tmp_path / "bad.yml"
    bad.write_text("trialComand: python3 x.py\ntrialConcurrency: 1\n")
    with pytest.raises(ConfigError, match="trialComand"):
        ExperimentConfig.load(str(bad))
    with pytest.raises(ConfigError, match="(?i)valid|known|TPE"):
        launch(tuner={"name": "NoSuchTuner"})


TRIALS = {
    "garbage.py": "import nni\nnni.get_next_parameter()\nprint(\"NNISDK_MEb'{not json'\")\n"
                  "print('random noise', flush=True)\nnni.report_final_result(0.5)\n",
    "nan.py": "import nni\nnni.get_next_parameter()\nnni.report_intermediate_result(float('nan'))\n"
              "nni.report_final_result(float('nan'))\n",
    "string.py": "import nni\nnni.get_next_parameter()\nnni.report_final_result('excellent')\n",
    "dict.py": "import nni\nnni.get_next_parameter()\nnni.report_final_result({'default': 0.7, 'loss': 0.2})\n",
    "dictnodefault.py": "import nni\nnni.get_next_parameter()\nnni.report_final_result({'loss': 0.2})\n",
    "crash.py": "import nni, sys\nnni.get_next_parameter()\nsys.stderr.write('boom: bad things\\n')\nsys.exit(3)\n",
}


@pytest.mark.parametrize("script", sorted(TRIALS))
def test_odd_trials_are_handled(code_dir, launch, script):
    (code_dir / script).write_text(TRIALS[script])
    exp = launch(trial_command=f"python3 {script}", max_trial_number=2, trial_concurrency=2,
                 tuner={"name": "TPE"})
    assert wait_status(exp, "DONE") == "DONE"
    jobs = exp.list_trial_jobs()
    assert len(jobs) == 2
    if script == "crash.py":
        assert all(j.status == "FAILED" and "exit code 3" in j.message for j in jobs)
        stderr = exp._rest.request("GET", f"trial-file/{jobs[0].trialJobId}/stderr", raw=True).text
        assert "boom: bad things" in stderr
        return
    assert all(j.status == "SUCCEEDED" for j in jobs), [(j.status, j.message) for j in jobs]
    value = jobs[0].finalMetricData[0].data
    expected = {"garbage.py": 0.5, "string.py": "excellent", "dict.py": {"default": 0.7, "loss": 0.2},
                "dictnodefault.py": {"loss": 0.2}}
    if script == "nan.py":
        assert math.isnan(value)
    else:
        assert value == expected[script]
    assert exp.get_status() == "DONE" and exp._rest.status()["errors"] == []


def test_missing_trial_command_fails_with_stderr(launch):
    exp = launch(trial_command="no-such-command-xyz --flag", max_trial_number=1, trial_concurrency=1)
    assert wait_status(exp, "DONE") == "DONE"
    job = exp.list_trial_jobs()[0]
    assert job.status == "FAILED" and "127" in job.message
    assert job.stderrPath.endswith("trial.stderr") and os.path.exists(job.stderrPath)
    text = exp._rest.request("GET", f"trial-file/{job.trialJobId}/stderr", raw=True).text
    assert "no-such-command-xyz" in text and "not found" in text


def test_agent_routes_need_the_machine_credential(launch, make_config):
    exp = launch(max_trial_number=1, trial_concurrency=1)
    wait_status(exp, "DONE")
    exp_dir = os.path.join(make_config().experiment_working_directory, exp.id)
    with open(os.path.join(exp_dir, "agents", "local", "head.json")) as f:
        head = json.load(f)
    base = head["url"] + "/api/agent/v1"
    assert not head["url"].endswith(f":{exp.port}")                    # the agent listener has its own port
    before = exp.get_job_metrics()
    event = {"machine": "local", "trials": {exp.list_trial_jobs()[0].trialJobId: [
        {"seq": 99, "type": "metric", "metric": json.dumps({"type": "PERIODICAL", "sequence": 9, "value": "1"})}]}}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "token"}):
        assert requests.post(f"{base}/events", json=event, headers=headers, timeout=5).status_code == 401
        assert requests.post(f"{base}/poll", json={"machine": "local"}, headers=headers,
                             timeout=5).status_code == 401
    mine = {"Authorization": f"Bearer {head['token']}"}
    assert requests.post(f"{base}/poll", json={"machine": "other", "wait": 0}, headers=mine,
                         timeout=5).status_code == 403                  # its credential names one machine
    assert requests.get(head["url"] + "/api/v1/nni/experiment", timeout=5).status_code == 404   # no REST there
    rest = f"http://127.0.0.1:{exp.port}/api/agent/v1/events"          # and no agent routes on the REST port
    assert requests.post(rest, json=event, headers=mine, timeout=5).status_code == 404
    assert exp.get_job_metrics() == before
