"""Local mode honours LocalConfig's GPU fields like remote machines do (fake nvidia-smi on PATH)."""
from __future__ import annotations

import json
import os
import shutil

from tests.integration.local.conftest import seen, wait_status

FAKE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "fixtures",
                    "nvidia-smi")


def test_local_gpu_fields(launch, tmp_path, monkeypatch):
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    shutil.copy(FAKE, bin_dir / "nvidia-smi")
    (bin_dir / "gpus.json").write_text(json.dumps({"gpus": [
        {"util": 0}, {"util": 80, "processes": [{"pid": 1}]}, {"util": 0}, {"util": 0}]}))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    exp = launch(trial_concurrency=4, max_trial_number=8, trial_gpu_number=1,
                 training_service={"platform": "local", "use_active_gpu": False, "gpu_indices": [0, 1, 2],
                                   "max_trial_number_per_gpu": 2},
                 search_space={"x": {"_type": "uniform", "_value": [0, 1]},
                               "sleep": {"_type": "choice", "_value": [0.5]}})
    assert wait_status(exp, "DONE") == "DONE"
    exp_dir = exp.get_experiment_profile()["logDir"]
    for job in exp.list_trial_jobs():
        cvd = seen(exp_dir, job.trialJobId)["env"]["CUDA_VISIBLE_DEVICES"]
        assert cvd in ("0", "2"), cvd          # 1 is busy (foreign process), 3 is not in gpuIndices
        assert job.gpus == [int(cvd)]


def test_zero_gpus_hides_them_and_none_leaves_them(launch, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7")
    exp = launch(trial_concurrency=1, max_trial_number=1, trial_gpu_number=0)
    assert wait_status(exp, "DONE") == "DONE"
    job = exp.list_trial_jobs()[0]
    assert seen(exp.get_experiment_profile()["logDir"], job.trialJobId)["env"]["CUDA_VISIBLE_DEVICES"] == ""
    exp2 = launch(trial_concurrency=1, max_trial_number=1)
    assert wait_status(exp2, "DONE") == "DONE"
    job2 = exp2.list_trial_jobs()[0]
    assert seen(exp2.get_experiment_profile()["logDir"], job2.trialJobId)["env"]["CUDA_VISIBLE_DEVICES"] == "7"
