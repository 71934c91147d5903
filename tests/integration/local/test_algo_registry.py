"""``nni-remote algo register/list/show/unregister``, shared with NNI 3.0's ``nnictl algo``, and names in use.

The tuner package is written like NNI's ``examples/tuners/customized_tuner``
(a package with a ``Tuner`` subclass and a ``ClassArgsValidator``, and a
meta file with NNI's keys); it is made importable with ``PYTHONPATH``, as
``pip install`` of the package would.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import yaml

from tests.integration.local.conftest import wait_status
from tests.integration.local.real_nni import nnictl

PACKAGE = textwrap.dedent('''
    import random
    from nni.tuner import Tuner
    from nni.utils import ClassArgsValidator


    class DemoTuner(Tuner):
        def __init__(self, optimize_mode="maximize", seed=None):
            self.optimize_mode = optimize_mode
            self.random = random.Random(seed)

        def update_search_space(self, search_space):
            self.space = search_space

        def generate_parameters(self, parameter_id, **kwargs):
            return {k: self.random.choice(v["_value"]) if v["_type"] == "choice" else
                    self.random.uniform(*v["_value"]) for k, v in self.space.items()}

        def receive_trial_result(self, parameter_id, parameters, value, **kwargs):
            pass


    class DemoValidator(ClassArgsValidator):
        def validate_class_args(self, **kwargs):
            if "optimize_mode" in kwargs:
                assert kwargs["optimize_mode"] in ["maximize", "minimize"], \\
                    "optimize_mode {} is invalid!".format(kwargs["optimize_mode"])
''')
ASSESSOR = textwrap.dedent('''
    from nni.assessor import Assessor, AssessResult

    class NeverStop(Assessor):
        def assess_trial(self, trial_job_id, trial_history):
            return AssessResult.Good
''')


@pytest.fixture
def algos(tmp_path, monkeypatch, isolated_home):
    """A config dir for both tools and an importable package holding the algorithms."""
    pkg = tmp_path / "site" / "demo_tuner"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .tuner import DemoTuner, DemoValidator\nfrom .assessor import NeverStop\n")
    (pkg / "tuner.py").write_text(PACKAGE)
    (pkg / "assessor.py").write_text(ASSESSOR)
    (tmp_path / "meta_file.yml").write_text("algoType: tuner\nbuiltinName: demotuner\nclassName: demo_tuner.DemoTuner\n"
                                            "classArgsValidator: demo_tuner.DemoValidator\n")
    (tmp_path / "assessor_meta.yml").write_text(yaml.safe_dump({"algoType": "assessor", "builtinName": "neverstop",
                                                                "className": "demo_tuner.NeverStop"}))
    monkeypatch.setenv("NNI_CONFIG_DIR", str(tmp_path / "nni-config"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"),
                                                                  str(tmp_path / "site")])))
    yield tmp_path
    for name in [m for m in sys.modules if m == "demo_tuner" or m.startswith("demo_tuner.")]:
        del sys.modules[name]


def ours(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nni_remote.cli", "algo", *args], capture_output=True, text=True,
                          timeout=120)


def theirs(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([nnictl(), "algo", *args], capture_output=True, text=True, timeout=120)


def test_register_use_by_name_and_unregister(algos, launch, code_dir):
    done = ours("register", "--meta", str(algos / "meta_file.yml"), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["registered"] == [{"name": "demotuner", "algoType": "tuner", "replaced": False}]
    listed = json.loads(ours("list", "--json").stdout)
    assert {"name": "demotuner", "algoType": "tuner", "source": "user", "className": "demo_tuner.DemoTuner"} in listed
    assert {m["name"] for m in listed} >= {"TPE", "BOHB", "Metis", "Medianstop"}
    assert json.loads(ours("show", "DemoTuner", "--json").stdout) == {
        "builtinName": "demotuner", "className": "demo_tuner.DemoTuner",
        "classArgsValidator": "demo_tuner.DemoValidator", "source": "user"}

    exp = launch(tuner={"name": "demotuner", "class_args": {"seed": 1}}, max_trial_number=3)
    assert wait_status(exp, "DONE", "ERROR", timeout=90) == "DONE", exp._rest.status()["errors"]
    assert [j.status for j in exp.list_trial_jobs()] == ["SUCCEEDED"] * 3

    gone = ours("unregister", "demotuner")
    assert gone.returncode == 0 and "demotuner unregistered" in gone.stdout
    assert "demotuner" not in ours("list").stdout


def test_bad_registrations_are_refused_with_the_reason(algos):
    (algos / "builtin.yml").write_text("algoType: tuner\nbuiltinName: tpe\nclassName: demo_tuner.DemoTuner\n")
    result = ours("register", "--meta", str(algos / "builtin.yml"))
    assert result.returncode == 2 and "cannot overwrite the built-in algorithm TPE" in result.stderr
    (algos / "nocls.yml").write_text("algoType: tuner\nbuiltinName: x\n")
    result = ours("register", "-m", str(algos / "nocls.yml"))
    assert result.returncode == 2 and "nocls.yml: className is required" in result.stderr
    (algos / "noimport.yml").write_text("algoType: advisor\nbuiltinName: x\nclassName: no_such_pkg.Advisor\n")
    result = ours("register", "--meta_path", str(algos / "noimport.yml"))
    assert result.returncode == 2 and "cannot import module 'no_such_pkg'" in result.stderr
    assert "install the package" in result.stderr
    assert ours("unregister", "nosuch").returncode == 2
    result = ours("unregister", "BOHB")
    assert result.returncode == 2 and "BOHB is built in" in result.stderr


def test_registration_is_shared_with_nnictl(algos, launch):
    assert ours("register", "--meta", str(algos / "meta_file.yml")).returncode == 0
    listed = theirs("list")
    assert listed.returncode == 0, listed.stderr
    assert any("demotuner" in line and "user" in line for line in listed.stdout.splitlines()), listed.stdout
    shown = theirs("show", "demotuner")
    assert json.loads(shown.stdout)["className"] == "demo_tuner.DemoTuner"

    registered = theirs("register", "--meta_path", str(algos / "assessor_meta.yml"))
    assert registered.returncode == 0 and "neverstop registered" in registered.stdout, registered
    assert json.loads(ours("show", "neverstop", "--json").stdout)["className"] == "demo_tuner.NeverStop"
    exp = launch(tuner={"name": "demotuner"}, assessor={"name": "neverstop"}, max_trial_number=2)
    assert wait_status(exp, "DONE", "ERROR", timeout=90) == "DONE", exp._rest.status()["errors"]

    assert ours("unregister", "demotuner").returncode == 0
    assert "demotuner" not in theirs("list").stdout
    assert theirs("unregister", "neverstop").returncode == 0
    assert "neverstop" not in ours("list").stdout
