"""The trial-side shim writes NNI's record bytes, through one descriptor kept open (a real trial process)."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.unit.agent.test_runner import SHIM
from trial_agent.metrics import parse_metrics_file

TRIAL = r'''
import json, os, nni
nni.get_next_parameter()
values = [1, 0.5, float("nan"), {"default": 2.5, "x": [1, 2]}, {"b": True, "n": None, "u": "\u00e9\n"}, 1e-7]
for value in values:
    nni.report_intermediate_result(value)
os.close(nni._trial._sink["fd"])           # a trial that closes descriptors it does not know
nni.report_final_result({"default": 3})
'''


def test_records_are_nnis_json_dumps_of_the_record_dict(tmp_path):
    (tmp_path / "parameter.cfg").write_text(json.dumps({"parameter_id": 7, "parameters": {}}))
    (tmp_path / "t.py").write_text(TRIAL)
    env = {"PYTHONPATH": SHIM, "NNI_PLATFORM": "local", "NNI_SYS_DIR": str(tmp_path), "NNI_TRIAL_JOB_ID": "Abc",
           "NNI_REMOTE_FORCE_SHIM": "1"}
    subprocess.run([sys.executable, str(tmp_path / "t.py")], env=env, check=True, timeout=60)
    records, rest = parse_metrics_file((tmp_path / ".nni" / "metrics").read_bytes())
    values = [1, 0.5, float("nan"), {"default": 2.5, "x": [1, 2]}, {"b": True, "n": None, "u": "\u00e9\n"}, 1e-7]
    expected = [json.dumps({"parameter_id": 7, "trial_job_id": "Abc", "type": "PERIODICAL", "sequence": i,
                            "value": json.dumps(v)}) for i, v in enumerate(values)]
    expected.append(json.dumps({"parameter_id": 7, "trial_job_id": "Abc", "type": "FINAL", "sequence": 0,
                                "value": json.dumps({"default": 3})}))
    assert records == expected and rest == b""
