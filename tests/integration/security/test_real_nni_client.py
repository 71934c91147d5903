"""NNI 3.0's own client and ``nnictl``, run unmodified by the experiment's user, need no token."""
from __future__ import annotations

import json
import os
import subprocess
import textwrap

import pytest

from tests.integration.local.conftest import wait_status
from tests.integration.local.test_real_nni import real_nni_python

CLIENT = textwrap.dedent('''
    import json, sys
    from nni.experiment import Experiment
    exp = Experiment.connect(int(sys.argv[1]))
    out = {"id": exp.id, "status": exp.get_status(), "jobs": len(exp.list_trial_jobs())}
    exp.update_max_trial_number(3)
    out["max"] = exp.get_experiment_profile()["params"]["maxTrialNumber"]
    print(json.dumps(out))
''')


@pytest.mark.skipif(real_nni_python() is None,
                    reason="set NNI_REMOTE_REAL_NNI_PYTHON to a Python with `pip install nni==3.0` "
                           "(.ci/run creates one)")
def test_nni_client_and_nnictl_work_for_the_owner(launch, tmp_path):
    exp = launch(max_trial_number=2, trial_concurrency=1)
    assert wait_status(exp, "DONE", timeout=120) == "DONE"
    python = real_nni_python()
    script = tmp_path / "client.py"
    script.write_text(CLIENT)
    run = subprocess.run([python, str(script), str(exp.port)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out == {"id": exp.id, "status": "DONE", "jobs": 2, "max": 3}
    nnictl = os.path.join(os.path.dirname(python), "nnictl")
    listed = subprocess.run([nnictl, "trial", "ls", exp.id], capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and '"trialJobId"' in listed.stdout, listed.stdout[-1000:] + listed.stderr
