"""Unmodified NNI trial code, with the built-in ``nni`` module and with the real nni 3.0 package."""
from __future__ import annotations

import json
import os
import shutil
import sys

import pytest

from tests.integration.local.conftest import wait_status

TRIAL = '''
import json, os, time
t0 = time.time()
import nni
t_import = time.time() - t0
params = nni.get_next_parameter()
for i in range(3):
    nni.report_intermediate_result(params["x"] * (i + 1))
nni.report_final_result({"default": params["x"], "extra": "kept"})
with open(os.path.join(os.environ["NNI_OUTPUT_DIR"], "which.json"), "w") as f:
    json.dump({"file": nni.__file__, "version": getattr(nni, "__version__", None), "import_s": t_import,
               "trial_id": nni.get_trial_id(), "exp_id": nni.get_experiment_id(),
               "seq": nni.get_sequence_id(), "current": nni.get_current_parameter()}, f)
'''


def real_nni_python() -> str | None:
    candidate = os.environ.get("NNI_REMOTE_REAL_NNI_PYTHON")
    if candidate and os.path.exists(candidate):
        return candidate
    return None


def run_with(python: str, code_dir, launch):
    (code_dir / "nni_trial.py").write_text(TRIAL)
    exp = launch(trial_command=f"{python} nni_trial.py", max_trial_number=3, trial_concurrency=3)
    assert wait_status(exp, "DONE", timeout=120) == "DONE"
    jobs = exp.list_trial_jobs()
    assert [j.status for j in jobs] == ["SUCCEEDED"] * 3, [(j.status, j.message) for j in jobs]
    metrics = exp.get_job_metrics()
    results = []
    for job in jobs:
        x = job.hyperParameters[0].parameters["x"]
        records = metrics[job.trialJobId]
        assert [m.data for m in records if m.type == "PERIODICAL"] == pytest.approx([x, 2 * x, 3 * x])
        assert [m.data for m in records if m.type == "FINAL"] == [{"default": x, "extra": "kept"}]
        with open(os.path.join(job.logPath, "which.json")) as f:
            which = json.load(f)
        assert which["trial_id"] == job.trialJobId and which["exp_id"] == exp.id
        assert which["seq"] == job.sequenceId and which["current"] == job.hyperParameters[0].parameters
        results.append(which)
    return results


def test_builtin_nni_module(code_dir, launch):
    python = shutil.which("python3") or sys.executable
    for which in run_with(python, code_dir, launch):
        assert which["version"] == "nni-remote-shim"
        assert which["import_s"] >= 0  # the benchmark reports the real import time


@pytest.mark.skipif(real_nni_python() is None,
                    reason="set NNI_REMOTE_REAL_NNI_PYTHON to a Python with `pip install nni==3.0` "
                           "(.ci/run creates one)")
def test_real_nni_package(code_dir, launch):
    for which in run_with(real_nni_python(), code_dir, launch):
        assert which["version"] == "3.0" and "site-packages" in which["file"]
