"""SlurmConfig: fields in both spellings, the rendered sbatch options, clear errors before submission."""
from __future__ import annotations

import pytest

from nni_remote import ExperimentConfig, SlurmConfig
from nni_remote.config.slurm import slurm_time, slurm_time_seconds
from nni_remote.errors import ConfigError


def _config(**ts):
    return ExperimentConfig(trial_command="python3 trial.py", trial_concurrency=2, search_space={},
                            tuner={"name": "Random"}, training_service={"platform": "slurm", **ts})


def test_camel_and_snake_case_render_the_same_sbatch_options():
    camel = _config(partition="gpu", account="p1", qos="normal", timeLimit="90s", cpusPerTrial=4,
                    memoryPerTrial="2gb", trialGpuNumber=2, sbatchArgs=["--constraint=a100"],
                    preamble="module load cuda\nsource ~/venv/bin/activate").canonical().training_service
    snake = _config(partition="gpu", account="p1", qos="normal", time_limit="90s", cpus_per_trial=4,
                    memory_per_trial="2gb", trial_gpu_number=2, sbatch_args=["--constraint=a100"],
                    preamble=["module load cuda", "source ~/venv/bin/activate"]).canonical().training_service
    assert isinstance(camel, SlurmConfig)
    expected = ["--partition=gpu", "--account=p1", "--qos=normal", "--time=00:02:00", "--cpus-per-task=4",
                "--mem=2048M", "--gres=gpu:2", "--constraint=a100"]
    assert camel.sbatch_options() == snake.sbatch_options() == expected
    settings = camel.agent_settings(experiment_id="e", pyz="/p.pyz", workers=2)
    assert settings["preamble"] == ["module load cuda", "source ~/venv/bin/activate"]
    assert settings["time_limit_s"] == 90 and settings["reuse"] is False and settings["poll_interval"] == 1


def test_reuse_mode_leaves_the_time_limit_to_the_worker():
    ts = _config(timeLimit="10m", reuseMode=True, allocationTimeLimit="2h").canonical().training_service
    assert not any(o.startswith("--time") for o in ts.sbatch_options())
    settings = ts.agent_settings(experiment_id="e", pyz="/p.pyz", workers=3)
    assert settings["time_limit_s"] == 600 and settings["allocation_time"] == "02:00:00" and settings["workers"] == 3


@pytest.mark.parametrize("text, seconds", [("30m", 1800), ("2h", 7200), (90, 90), ("1-00:00:00", 86400),
                                           ("01:30:00", 5400), ("05:30", 330), ("2-12", 216000)])
def test_time_limits_in_nni_and_slurm_forms(text, seconds):
    assert slurm_time_seconds(text) == seconds


def test_slurm_time_rounds_up_to_whole_minutes():
    assert slurm_time(1) == "00:01:00" and slurm_time(61) == "00:02:00" and slurm_time(90000) == "1-01:00:00"


def test_every_bad_field_is_named_before_anything_is_submitted():
    with pytest.raises(ConfigError) as info:
        _config(partition="a b", timeLimit="soon", memoryPerTrial="lots", cpusPerTrial=0,
                sbatchArgs=["--output=/tmp/x", "exclusive", "-J", "--array=1-4"],
                loginNode={"host": "login", "port": 0}).canonical()
    text = str(info.value)
    for needle in ("trainingService.partition", "trainingService.timeLimit", "trainingService.memoryPerTrial",
                   "trainingService.cpusPerTrial", "trainingService.sbatchArgs[0]: --output is set by nni-remote",
                   "trainingService.sbatchArgs[1]: must be an sbatch option", "trainingService.sbatchArgs[2]",
                   "trainingService.sbatchArgs[3]", "trainingService.loginNode.user: is required",
                   "trainingService.loginNode.port"):
        assert needle in text, needle


def test_unknown_key_is_rejected_with_a_suggestion():
    with pytest.raises(ConfigError) as info:
        _config(partitoin="gpu").canonical()
    assert "partitoin" in str(info.value) and "partition" in str(info.value)
