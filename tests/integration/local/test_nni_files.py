"""What NNI's own tools read besides the REST values: log files, log lines and the exact bytes of REST bodies.

NNI's bodies below were captured from NNI 3.0 (its Node.js manager writes
``JSON.stringify`` output: compact, JavaScript number formatting).
"""
from __future__ import annotations

import json
import os
import textwrap

import pytest
import requests

from nni_remote import Experiment, compact_json
from nni_remote.errors import ExperimentNotFound, NniRemoteError
from nni_remote.manager import registry
from tests.conftest import free_port
from tests.integration.local.conftest import wait_for, wait_status
from tests.integration.local.test_rest import NNI
from tests.integration.portal.kit import live  # noqa: F401  (the module's live kit experiment)

# NNI 3.0: POST /experiment/import-data with this body, then GET /experiment/imported-data
IMPORTED_BODY = ('[{"parameter":{"x":0.25,"y":"beta"},"value":0.0625},'
                 '{"parameter":{"x":0.5,"y":"alpha"},"value":{"default":0.25,"other":1}}]')
IMPORTED_ANSWER = ('["[{\\"parameter\\":{\\"x\\":0.25,\\"y\\":\\"beta\\"},\\"value\\":0.0625},'
                   '{\\"parameter\\":{\\"x\\":0.5,\\"y\\":\\"alpha\\"},\\"value\\":{\\"default\\":0.25,\\"other\\":1}}]"]')

# NNI 3.0's GET /experiment: the order of the config's keys
NNI_PARAMS_ORDER = ["experimentName", "experimentType", "searchSpace", "trialCommand", "trialCodeDirectory",
                    "trialConcurrency", "maxTrialNumber", "useAnnotation", "debug", "logLevel",
                    "experimentWorkingDirectory", "tuner", "trainingService"]
NNI_SERVICE_ORDER = ["platform", "trialCommand", "trialCodeDirectory", "debug", "maxTrialNumberPerGpu", "reuseMode"]

DEMO_TUNER = textwrap.dedent('''
    import logging, random
    from nni.tuner import Tuner
    log = logging.getLogger("demo_tuner")

    class DemoTuner(Tuner):
        def update_search_space(self, search_space):
            log.info("demo tuner got its search space: %s", sorted(search_space))
        def generate_parameters(self, parameter_id, **kwargs):
            log.info("demo tuner proposes parameter %s", parameter_id)
            return {"x": random.random()}
        def receive_trial_result(self, parameter_id, parameters, value, **kwargs):
            log.info("demo tuner received %s", value)
''')


def test_imported_data_is_byte_identical(live):  # noqa: F811
    exp, api, _ = live
    before = api.call("GET", "/api/v1/nni/experiment/imported-data").text
    resp = api.call("POST", "/api/v1/nni/experiment/import-data", data=IMPORTED_BODY,
                    headers={"Content-Type": "application/json"})
    assert resp.status_code == 200, resp.text
    after = api.call("GET", "/api/v1/nni/experiment/imported-data").text
    assert after == (before[:-1] + "," + IMPORTED_ANSWER[1:] if before != "[]" else IMPORTED_ANSWER)


def test_nni_bodies_are_compact_with_nni_key_order(live):  # noqa: F811
    exp, api, _ = live
    succeeded = next(t["trialJobId"] for t in api.nni("trial-jobs") if t["status"] == "SUCCEEDED")
    routes = {"GET_check-status.json": "check-status", "GET_experiment.json": "experiment",
              "GET_experiment-metadata.json": "experiment-metadata", "GET_job-statistics.json": "job-statistics",
              "GET_trial-jobs_ID_succeeded.json": f"trial-jobs/{succeeded}",
              "GET_metric-data_ID.json": f"metric-data/{succeeded}", "GET_metric-data-latest.json": "metric-data-latest",
              "GET_export-data_done.json": "export-data"}
    for sample, route in routes.items():
        text = api.call("GET", "/api/v1/nni/" + route).text
        ours = json.loads(text)
        assert text == compact_json.dumps(ours), f"{route}: not NNI's serialisation: {text[:120]}"
        _same_order(ours, NNI[sample], route)
    params = api.nni("experiment")["params"]
    _same_order(params, dict.fromkeys(NNI_PARAMS_ORDER), "experiment.params")
    _same_order(params["trainingService"], dict.fromkeys(NNI_SERVICE_ORDER), "experiment.params.trainingService")
    for route in ("trial-jobs", "metric-data", "experiments-info", "trial-jobs/nosuch"):
        text = api.call("GET", "/api/v1/nni/" + route).text
        assert text == compact_json.dumps(json.loads(text)), route


def _same_order(ours, nni, where: str) -> None:
    if isinstance(nni, list) and nni:
        for item in ours:
            _same_order(item, nni[0], where + "[]")
    elif isinstance(nni, dict) and isinstance(ours, dict):
        common = [k for k in ours if k in nni]
        assert common == [k for k in nni if k in ours], f"{where}: key order {common} differs from NNI's {list(nni)}"
        for key in common:
            if key not in ("params", "parameter"):
                _same_order(ours[key], nni[key], f"{where}.{key}")


def test_dispatcher_log_and_experiment_done_line(make_config, code_dir, experiments):
    (code_dir / "demo_tuner.py").write_text(DEMO_TUNER)
    exp = Experiment(make_config(max_trial_number=2, tuner={"class_name": "demo_tuner.DemoTuner",
                                                            "code_directory": str(code_dir)}))
    exp.start(free_port())
    experiments.append(exp)
    assert wait_status(exp, "DONE") == "DONE"
    log_dir = os.path.join(exp.get_experiment_profile()["logDir"], "log")
    wait_for(lambda: "Experiment done." in open(os.path.join(log_dir, "nnimanager.log")).read(),
             what="NNI's 'Experiment done.' line")
    dispatcher = open(os.path.join(log_dir, "dispatcher.log")).read()
    assert "demo tuner got its search space: ['x']" in dispatcher
    assert "demo tuner proposes parameter 1" in dispatcher and "demo tuner received" in dispatcher
    assert "Experiment done." not in dispatcher                 # the manager's own lines stay in nnimanager.log
    assert requests.get(f"http://127.0.0.1:{exp.port}/logs/dispatcher.log").text == dispatcher


def test_rejected_config_leaves_no_registry_entry(make_config, code_dir, isolated_home):
    (code_dir / "broken_tuner.py").write_text("raise ImportError('this tuner cannot load')\n")
    exp = Experiment(make_config(tuner={"class_name": "broken_tuner.Tuner", "code_directory": str(code_dir)}))
    with pytest.raises(NniRemoteError) as caught:
        exp.start(free_port())
    assert "cannot load" in str(caught.value) and "<!doctype" not in str(caught.value).lower()
    assert registry.get_entry(exp.id) is None


def test_view_of_unknown_experiment_says_viewed(isolated_home):
    with pytest.raises(ExperimentNotFound, match="cannot be viewed"):
        Experiment.view("nosuchexp", port=free_port(), non_blocking=True)
    with pytest.raises(ExperimentNotFound, match="cannot be resumed"):
        Experiment.resume("nosuchexp", port=free_port(), wait_completion=False)
