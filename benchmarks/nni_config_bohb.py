"""NNI's published ``examples/trials/mnist-advisor/config_bohb.yml``, unmodified, run to DONE.

    python benchmarks/nni_config_bohb.py                 # NNI's file as published: 1000 trials
    python benchmarks/nni_config_bohb.py --max-trials 40 # a shorter run (the file is then modified)

The config and ``search_space.json`` are NNI 3.0's files byte for byte (comments kept).
NNI's ``mnist.py`` trains a TensorFlow 1.x network on MNIST that it downloads; that cannot
run here (no TF 1.x, no network), so ``mnist.py`` is a stand-in with the same protocol:
it reads ``TRIAL_BUDGET``, reports one intermediate accuracy per 100 batches
(``TRIAL_BUDGET`` of them, as NNI's trial does with ``batch_num = TRIAL_BUDGET * 100``) and
a final accuracy, which grows with the budget and depends on every parameter.

Prints the wall time, the final status, trials by status and by budget, the best accuracy
and the trial that reached it, and the experiment folder. The full run takes minutes
(1000 trial processes one after another: ``trialConcurrency: 1``); the CI suite runs the
same file with 40 trials (tests/integration/local/test_advisors_e2e.py).
"""
from __future__ import annotations

import argparse
import collections
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks._common import bench_dirs  # noqa: E402
from nni_remote import Experiment, ExperimentConfig  # noqa: E402

CONFIG_BOHB = '''# Run following command first to install dependencies of BOHB tuner:
#   $ python3 -m pip install nni[BOHB]

searchSpaceFile: search_space.json
trialCommand: python3 mnist.py
trialGpuNumber: 0
trialConcurrency: 1
maxExperimentDuration: 10h
maxTrialNumber: 1000
advisor:
  name: BOHB
  classArgs:
    max_budget: 27
    min_budget: 1
    eta: 3
    optimize_mode: maximize
trainingService:  # For other platforms, check mnist-pytorch example
  platform: local
'''
SEARCH_SPACE = '''{
    "dropout_rate":{"_type":"uniform","_value":[0.5,0.9]},
    "conv_size":{"_type":"choice","_value":[2,3,5,7]},
    "hidden_size":{"_type":"choice","_value":[124, 512, 1024]},
    "batch_size": {"_type":"choice","_value":[8, 16, 32, 64]},
    "learning_rate":{"_type":"choice","_value":[0.0001, 0.001, 0.01, 0.1]}
}
'''
STAND_IN_TRIAL = '''
import math
import nni

params = nni.get_next_parameter()
batch_num = params["TRIAL_BUDGET"] * 100           # as NNI's mnist.py
ceiling = (0.99 - 0.3 * abs(params["dropout_rate"] - 0.6) - 0.02 * abs(params["conv_size"] - 5)
           - 0.01 * math.log2(1024 / params["hidden_size"]) - 0.01 * abs(math.log2(params["batch_size"] / 32))
           - 0.05 * abs(math.log10(params["learning_rate"]) + 3))
speed = 600.0 if params["learning_rate"] >= 0.001 else 3000.0
test_acc = 0.0
for i in range(batch_num):
    if i % 100 == 0:
        test_acc = ceiling * (1 - math.exp(-(i + 100) / speed))
        nni.report_intermediate_result(test_acc)
test_acc = ceiling * (1 - math.exp(-batch_num / speed))
nni.report_final_result(test_acc)
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-trials", type=int, default=None,
                        help="override maxTrialNumber (default: NNI's 1000, the file unmodified)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="give up after this many seconds")
    args = parser.parse_args()

    root, code = bench_dirs("nni-bohb-", STAND_IN_TRIAL)
    os.rename(os.path.join(code, "trial.py"), os.path.join(code, "mnist.py"))
    with open(os.path.join(code, "config_bohb.yml"), "w") as f:
        f.write(CONFIG_BOHB)
    with open(os.path.join(code, "search_space.json"), "w") as f:
        f.write(SEARCH_SPACE)
    config = ExperimentConfig.load(os.path.join(code, "config_bohb.yml"))
    if args.max_trials is not None:
        config.max_trial_number = args.max_trials

    exp = Experiment(config)
    started = time.monotonic()
    exp.start(free_port())
    try:
        status = exp.get_status()
        while status not in ("DONE", "ERROR") and time.monotonic() - started < args.timeout:
            time.sleep(1.0)
            status = exp.get_status()
        wall = time.monotonic() - started
        jobs = sorted(exp.list_trial_jobs(), key=lambda j: j.sequenceId)
        errors = exp._rest.status().get("errors") if status == "ERROR" else []
        folder = exp.get_experiment_profile().get("logDir")
    finally:
        exp.stop()

    by_status = collections.Counter(j.status for j in jobs)
    by_budget = collections.Counter(j.hyperParameters[0].parameters.get("TRIAL_BUDGET") for j in jobs)
    finals = [(j.finalMetricData[0].data, j) for j in jobs if j.finalMetricData]
    best_value, best = max(finals, key=lambda vj: vj[0]) if finals else (float("nan"), None)
    print(f"config: NNI's mnist-advisor/config_bohb.yml{'' if args.max_trials is None else ' with maxTrialNumber '}"
          f"{'' if args.max_trials is None else args.max_trials} (stand-in mnist.py)")
    print(f"status: {status}{' ' + str(errors) if errors else ''}")
    print(f"wall time: {wall:.1f} s for {len(jobs)} trials ({wall / max(len(jobs), 1):.2f} s per trial)")
    print(f"trials by status: {dict(sorted(by_status.items()))}")
    print(f"trials by TRIAL_BUDGET: {dict(sorted(by_budget.items()))}")
    if best is not None:
        print(f"best final accuracy: {float(best_value):.4f} (trial {best.trialJobId}, #{best.sequenceId}, "
              f"budget {best.hyperParameters[0].parameters['TRIAL_BUDGET']})")
    print(f"experiment folder: {folder} (under {root})")
    sys.exit(0 if status == "DONE" else 1)


if __name__ == "__main__":
    main()
