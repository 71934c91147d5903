"""PBT's checkpoint folders: NNI's default (``NNI_CHECKPOINT_DIRECTORY`` = the experiment's ``checkpoint``
folder) reaches trials that run beside the manager, and is refused with what to do when they run elsewhere.

``PBT_TRIAL`` stands in for NNI's ``examples/trials/mnist-pbt-tuner-pytorch/mnist.py`` (which needs torch):
the same use of ``load_checkpoint_dir`` (load ``model.pth`` when it exists) and ``save_checkpoint_dir``
(``os.makedirs`` it, save ``model.pth``), with a JSON "model" that counts the steps it was trained.
"""
from __future__ import annotations

import json
import os
import textwrap

import pytest

from nni_remote.errors import ConfigError
from tests.conftest import free_port
from tests.integration.local.conftest import wait_status
from tests.integration.local.real_nni import nni_on_head
from tests.integration.local.test_tuners_e2e import errors_of, jobs_of, params_of

PBT_TRIAL = textwrap.dedent('''
    import json, os, time
    import nni
    args = nni.get_next_parameter()
    if os.path.basename(os.path.dirname(args["save_checkpoint_dir"])) == "0":
        time.sleep(1.5)                       # member 0 ends later: the tuner owes the next step for a while
    load_path = os.path.join(args["load_checkpoint_dir"], "model.pth")
    model = {"steps": 0}
    if os.path.isfile(load_path):
        with open(load_path) as f:
            model = json.load(f)
    model["steps"] += 1                       # one step of training
    save_dir = args["save_checkpoint_dir"]
    if not os.path.exists(save_dir):
        os.makedirs(save_dir)
    with open(os.path.join(save_dir, "model.pth"), "w") as f:
        json.dump(model, f)
    nni.report_final_result(model["steps"] + args["lr"])
''')
SPACE = {"lr": {"_type": "uniform", "_value": [0.0, 0.5]}}


def _checkpoints_of(exp) -> str:
    return os.path.join(exp.get_experiment_profile()["logDir"], "checkpoint")


@pytest.mark.parametrize("tuner", [
    {"name": "PBTTuner", "class_args": {"optimize_mode": "maximize", "population_size": 2, "seed": 3}},
    pytest.param({"class_name": "nni.algorithms.hpo.pbt_tuner.PBTTuner",
                  "class_args": {"optimize_mode": "maximize", "population_size": 2}}, id="nni-PBTTuner")])
def test_pbt_trials_continue_from_checkpoints_in_the_experiment_folder(launch, code_dir, tmp_path, monkeypatch,
                                                                       tuner):
    if "class_name" in tuner:
        nni_on_head(monkeypatch, str(tmp_path / "nni-on-head"))     # NNI 3.0's own PBTTuner, unmodified
    (code_dir / "mnist.py").write_text(PBT_TRIAL)
    exp = launch(trial_command="python3 mnist.py", trial_concurrency=2, max_trial_number=6, search_space=SPACE,
                 tuner=tuner)
    assert wait_status(exp, "DONE", "ERROR", timeout=120) == "DONE", errors_of(exp)
    jobs = jobs_of(exp)
    assert [j.status for j in jobs] == ["SUCCEEDED"] * 6, [(j.status, j.message) for j in jobs]
    folder = _checkpoints_of(exp)
    for job in jobs:
        params = params_of(job)
        for key in ("load_checkpoint_dir", "save_checkpoint_dir"):
            assert os.path.commonpath([params[key], folder]) == folder, (key, params[key], folder)
        assert os.path.isfile(os.path.join(params["save_checkpoint_dir"], "model.pth"))
    steps = [int(j.finalMetricData[0].data) for j in jobs]
    assert steps[:2] == [1, 1] and steps[2:4] == [2, 2] and steps[4:] == [3, 3], steps   # each step loaded one


def test_pbt_default_folder_is_refused_when_trials_run_on_other_machines(make_config, code_dir, tmp_path):
    key = tmp_path / "id_key"
    key.write_text("not used: the experiment is refused before any connection\n")
    remote = {"platform": "remote", "machine_list": [{"host": "198.18.255.254", "user": "u",
                                                      "ssh_key_file": str(key)}]}
    config = make_config(tuner={"name": "PBT"}, training_service=remote, search_space=SPACE)
    from nni_remote import Experiment
    with pytest.raises(ConfigError, match=r"all_checkpoint_dir is not set.*every machine mounts at the same path"):
        Experiment(config).start(free_port())
    shared = str(tmp_path / "shared")
    config = make_config(tuner={"name": "PBT", "class_args": {"all_checkpoint_dir": shared}}, training_service=remote,
                         search_space=SPACE)
    from nni_remote.manager.tuner_host import TunerHost
    host = TunerHost(config.tuner, None, checkpoint_dir=str(tmp_path / "exp" / "checkpoint"),
                     trials_see_head_files=False)                  # a folder the user names is theirs to share
    assert host.tuner.all_checkpoint_dir == shared
    host.update_search_space(SPACE)
    assert json.dumps(host.generate()[1]).count(shared) == 2
