"""GPU scheduling across rig hosts with a fake nvidia-smi (2, 4 and 0 GPUs)."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.integration.local.conftest import wait_for
from tests.integration.remote.remote_helpers import install_known_hosts, per_machine, remote_config, start, wait_done

FAKE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "fixtures",
                    "nvidia-smi")

GPU_TRIAL = '''
import json, os, socket, time
import nni
p = nni.get_next_parameter()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect(("198.18.0.1", 9)); addr = s.getsockname()[0]
t0 = time.time()
time.sleep(p.get("sleep", 1.0))
nni.report_final_result({"default": p["x"], "addr": addr, "cvd": os.environ.get("CUDA_VISIBLE_DEVICES"),
                         "t0": t0, "t1": time.time()})
'''


def gpu_dir(tmp_path, name, gpus):
    d = tmp_path / f"gpu-{name}"
    d.mkdir()
    shutil.copy(FAKE, d / "nvidia-smi")
    (d / "gpus.json").write_text(json.dumps({"gpus": gpus}))
    return str(d)


@pytest.fixture
def gpu_rig(rig_factory, tmp_path, isolated_home):
    two = gpu_dir(tmp_path, "two", [{"util": 0}, {"util": 93, "processes": [{"pid": 1, "mem": 4000}]}])
    four = gpu_dir(tmp_path, "four", [{"util": 0}] * 4)
    rig = rig_factory(3, logins=["key", "key", "key"],
                      host_options=[{"extra_path_dir": two}, {"extra_path_dir": four}, None])
    install_known_hosts(rig, str(isolated_home))
    return rig


def test_gpu_limits_indices_and_busy_gpus(gpu_rig, tmp_path, experiments):
    a, b, c = gpu_rig.hosts
    machines = [per_machine(a.machine_config(), useActiveGpu=False, maxTrialNumberPerGpu=2),
                per_machine(b.machine_config(), gpuIndices=[1, 2, 3], maxTrialNumberPerGpu=2, useActiveGpu=True),
                per_machine(c.machine_config(), maxTrialNumberPerGpu=2)]
    config = remote_config(tmp_path, machines, trial_concurrency=10, max_trial_number=24, trial_gpu_number=1,
                           space={"x": {"_type": "uniform", "_value": [0, 1]},
                                  "sleep": {"_type": "choice", "_value": [1.5]}})
    (tmp_path / "code" / "trial.py").write_text(GPU_TRIAL)
    exp = start(config, experiments)
    waiting = wait_for(lambda: [j for j in exp.list_trial_jobs()
                                if j.status == "WAITING" and "needs 1 GPU" in j.message and " free (GPU " in j.message],
                       what="a trial waiting for a GPU, saying why")
    assert f"{a.address}: " in waiting[0].message      # e.g. "GPU 0 full (2/2 trials); GPU 1 used by another process"
    from click.testing import CliRunner
    from nni_remote.cli import main
    listing = CliRunner().invoke(main, ["trial", "ls", exp.id])
    assert listing.exit_code == 0 and "needs 1 GPU" in listing.output, listing.output
    assert wait_done(exp, timeout=120) == "DONE"
    jobs = exp.list_trial_jobs()
    assert len(jobs) == 24 and all(j.status == "SUCCEEDED" for j in jobs)

    spans: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for job in jobs:
        v = job.finalMetricData[0].data
        assert v["addr"] == job.machine
        assert job.machine != c.address, "a host without GPUs got a GPU trial"
        if v["addr"] == a.address:
            assert v["cvd"] == "0", "GPU 1 of host a is busy with a foreign process"
        else:
            assert v["cvd"] in ("1", "2", "3"), "GPU 0 of host b is excluded by gpuIndices"
        assert job.gpus == [int(v["cvd"])]
        spans.setdefault((v["addr"], v["cvd"]), []).append((v["t0"], v["t1"]))

    def peak(intervals):
        events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
        level = best = 0
        for _, delta in events:
            level += delta
            best = max(best, level)
        return best
    assert set(spans) == {(a.address, "0"), (b.address, "1"), (b.address, "2"), (b.address, "3")}
    for key, intervals in spans.items():
        assert peak(intervals) <= 2, f"more than max_trial_number_per_gpu trials on {key}"
    everything = [iv for ivs in spans.values() for iv in ivs]
    assert peak(everything) == 8, "allowed GPUs stayed idle while trials waited"


def test_trial_needing_too_many_gpus_errors(gpu_rig, tmp_path, experiments):
    machines = [per_machine(h.machine_config(), useActiveGpu=True) for h in gpu_rig.hosts]
    exp = start(remote_config(tmp_path, machines, trial_gpu_number=5), experiments)
    assert wait_done(exp, timeout=60) == "ERROR"
    errors = exp._rest.status()["errors"]
    assert any("trial_gpu_number is 5" in e and "no machine has that many" in e for e in errors), errors
