"""SMAC (SMAC3 through ask/tell) past its initial design (its random forest at work), in a Python with smac.

smac is not installed for the head by default: ``.ci/run`` puts it in its own venv
(``$NNI_REMOTE_SMAC_PYTHON``), whose packages are linked for a child Python here.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from tests.integration.local.real_nni import smac_on_head

SESSION = textwrap.dedent('''
    import json
    from nni_remote.tuning import create_tuner
    tuner = create_tuner({"name": "SMAC", "classArgs": {"optimize_mode": "minimize", "seed": 2}})
    tuner.update_search_space({"x": {"_type": "uniform", "_value": [0, 1]},
                               "c": {"_type": "choice", "_value": ["good", "bad"]}})
    losses = []
    for pid in range(30):
        p = tuner.generate_parameters(pid)
        loss = (p["x"] - 0.3) ** 2 + (p["c"] == "bad")
        tuner.receive_trial_result(pid, p, loss)
        tuner.trial_end(pid, True)
        losses.append(loss)
    print(json.dumps(losses))
''')


def test_smac_suggestions_improve_after_the_initial_design(monkeypatch, tmp_path) -> None:
    smac_on_head(monkeypatch, str(tmp_path / "smac-on-head"))
    out = subprocess.run([sys.executable, "-c", SESSION], capture_output=True, text=True, timeout=300,
                         env=dict(os.environ), check=True).stdout
    losses = json.loads(out.strip().splitlines()[-1])
    assert len(losses) == 30
    # SMAC3's initial design is 10 configurations per hyperparameter (20 here); its model drives the rest
    assert min(losses[20:]) < 0.01 and sum(losses[20:]) / 10 < sum(losses[:20]) / 20, losses
