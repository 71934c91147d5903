"""A small experiment with every kind of trial, shared by the portal, REST and CLI tests.

GridSearch over ``x`` x ``opt`` gives exactly six trials, whatever their
order; what a trial does depends on its parameters only:

- ``x=0.25, opt=sgd`` fails (exit 3, a line on stderr);
- ``x=0.75, opt=sgd`` and ``x=0.5, opt=sgd`` are *held*: they report
  intermediate results and then wait until a file ``release-<x>`` appears in
  the code directory (tests kill one and release the other);
- the others succeed at once with final metric ``x`` (a dict metric for
  ``x=0.5, opt=adam``, to exercise dict handling).

The grid is exhausted after six trials while ``maxTrialNumber`` is 20, so
customized trials and retries never race the tuner for the budget.
"""
from __future__ import annotations

import json
import os
import shutil
import textwrap
from typing import Any

import pytest
import requests

from nni_remote import Experiment, ExperimentConfig
from tests.conftest import free_port

TRIAL = textwrap.dedent('''
    import json, os, sys, time
    import nni
    params = nni.get_next_parameter()
    x, opt = params.get("x", 0.5), params.get("opt", "adam")
    out = os.environ["NNI_OUTPUT_DIR"]
    print("trial-start", os.environ["NNI_TRIAL_JOB_ID"], json.dumps(params), flush=True)
    with open(os.path.join(out, "trial.log"), "a") as log:
        log.write("trial.log of %s\\n" % os.environ["NNI_TRIAL_JOB_ID"])
    for i in range(3):
        nni.report_intermediate_result(x * (i + 1) / 3)
    if x == 0.25 and opt == "sgd":
        print("boom: this trial fails on purpose", file=sys.stderr, flush=True)
        sys.exit(3)
    if opt == "sgd" and x in (0.5, 0.75):
        release = "release-%s" % x
        tick = 0
        while not os.path.exists(release):
            print("tick", tick, flush=True)
            tick += 1
            time.sleep(0.1)
    print("trial-end", flush=True)
    nni.report_final_result({"default": x, "loss": 1 - x} if (x == 0.5 and opt == "adam") else x)
''')

SPACE = {"x": {"_type": "choice", "_value": [0.25, 0.5, 0.75]}, "opt": {"_type": "choice", "_value": ["adam", "sgd"]}}
FAILS = {"x": 0.25, "opt": "sgd"}
HELD = ({"x": 0.75, "opt": "sgd"}, {"x": 0.5, "opt": "sgd"})
YAML = textwrap.dedent("""
    experimentName: kit <i>demo</i>
    searchSpaceFile: space.json
    trialCommand: python3 trial.py
    trialCodeDirectory: .
    trialConcurrency: 3
    maxTrialNumber: 20
    experimentWorkingDirectory: {workdir}
    tuner:
      name: GridSearch
    trainingService:
      platform: local
""")


def write_code(code_dir: Any, workdir: Any) -> str:
    """Write trial.py, space.json and config.yml into ``code_dir``; return the config path."""
    os.makedirs(code_dir, exist_ok=True)
    with open(os.path.join(code_dir, "trial.py"), "w") as f:
        f.write(TRIAL)
    with open(os.path.join(code_dir, "space.json"), "w") as f:
        json.dump(SPACE, f)
    path = os.path.join(code_dir, "config.yml")
    with open(path, "w") as f:
        f.write(YAML.format(workdir=workdir))
    return path


def config_kwargs(code_dir: Any, workdir: Any) -> dict[str, Any]:
    """The same experiment as ExperimentConfig keyword arguments."""
    write_code(code_dir, workdir)
    return dict(experiment_name="kit <i>demo</i>", trial_command="python3 trial.py",
                trial_code_directory=str(code_dir), trial_concurrency=3, max_trial_number=20,
                experiment_working_directory=str(workdir), search_space=SPACE, tuner={"name": "GridSearch"},
                training_service={"platform": "local"})


FAKE_SMI = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "fixtures",
                        "nvidia-smi")
FAKE_GPUS = [{"util": 35, "mem_used": 1200, "mem_total": 81920}, {"util": 0}]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A running kit experiment, settled: six trials, two of them held RUNNING. Yields (exp, api, code_dir).

    The machine has two (fake) GPUs and each trial takes one, so GPUs show up
    in the trials, the machines and the REST answers.
    """
    root = tmp_path_factory.mktemp("portal")
    home = root / "home"
    home.mkdir()
    bin_dir = root / "fakebin"
    bin_dir.mkdir()
    shutil.copy(FAKE_SMI, bin_dir / "nvidia-smi")
    (bin_dir / "gpus.json").write_text(json.dumps({"gpus": FAKE_GPUS}))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")   # the local agent inherits it
        code_dir = root / "code"
        kwargs = config_kwargs(code_dir, root / "exps")
        kwargs.update(trial_gpu_number=1, training_service={"platform": "local", "max_trial_number_per_gpu": 2,
                                                            "use_active_gpu": True})
        exp = Experiment(ExperimentConfig(**kwargs))
        exp.start(free_port())
        try:
            api = Api(exp.port)
            wait_for(api.settled, what="the kit experiment to settle")
            yield exp, api, code_dir
        finally:
            for params in HELD:
                release(code_dir, params)
            exp.stop()


def release(code_dir: Any, params: dict[str, Any]) -> None:
    open(os.path.join(code_dir, f"release-{params['x']}"), "w").close()


from tests.integration.local.conftest import wait_for  # noqa: E402  (one poll-until helper for all tests)


class Api:
    """Tiny REST helper for tests: ``api.nni("trial-jobs")``, ``api.ours("overview")``."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.session.request(method, self.base + path, timeout=20, **kw)

    def nni(self, route: str, method: str = "GET", **kw: Any) -> Any:
        resp = self.call(method, "/api/v1/nni/" + route, **kw)
        resp.raise_for_status()
        return resp.json() if resp.content and "json" in resp.headers.get("Content-Type", "") else resp.text

    def ours(self, route: str, method: str = "GET", **kw: Any) -> Any:
        resp = self.call(method, "/api/v1/nni-remote/" + route, **kw)
        resp.raise_for_status()
        return resp.json()

    def trial_with(self, params: dict[str, Any]) -> dict[str, Any] | None:
        for t in self.ours("trials"):
            if t["parameters"] == params:
                return t
        return None

    def settled(self) -> bool:
        """Six trials submitted; all finished except the held ones, which are RUNNING."""
        trials = self.ours("trials")
        if len(trials) < 6:
            return False
        for t in trials:
            held = t["parameters"] in HELD
            if held and t["status"] != "RUNNING" or not held and t["status"] in ("WAITING", "RUNNING"):
                return False
        return True
