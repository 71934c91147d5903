"""A manager stays responsive to REST while 64 agents are parked in long-polls on its agent listener."""
from __future__ import annotations

import threading

import requests
import waitress

from nni_remote.manager import process
from nni_remote.manager.listeners import run_quietly
from nni_remote.server import create_app
from nni_remote.services.base import HeadInfo, MachineSpec, TrainingService, TrialPaths
from tests.conftest import free_port
from tests.integration.local.conftest import wait_for

AGENTS = 64


class SilentMachines(TrainingService):
    """64 machines whose agents are played by this test."""

    platform = "remote"

    def machines(self):
        return [MachineSpec(f"m{i}", slots=1) for i in range(AGENTS)]

    def launch_machine(self, name: str, head: HeadInfo):
        return None

    def trial_paths(self, machine, trial_id):
        return TrialPaths("/tmp", f"/tmp/{trial_id}")

    def list_trial_files(self, machine, trial_id):
        return []

    def read_trial_file(self, machine, trial_id, name, max_bytes):
        raise FileNotFoundError(name)

    def stop(self):
        pass


def test_rest_answers_while_64_agents_long_poll(tmp_path, code_dir, isolated_home, monkeypatch):
    monkeypatch.setattr(process, "make_service", lambda *a: SilentMachines(*a))
    port = free_port()
    mp = process.ManagerProcess(exp_id="many64", experiments_dir=str(tmp_path / "exps"), action="create", port=port)
    server = waitress.create_server(create_app(mp), host="127.0.0.1", port=port, threads=32)
    agents_server = mp.start_agent_listener()
    threading.Thread(target=run_quietly, args=(server,), daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    agent_base = f"http://127.0.0.1:{mp.agent_port}"
    config = {"trialCommand": "true", "trialCodeDirectory": str(code_dir), "trialConcurrency": 1,
              "maxTrialNumber": 1, "searchSpace": {"x": {"_type": "uniform", "_value": [0, 1]}},
              "tuner": {"name": "Random"}, "trainingService": {"platform": "local"}}
    assert requests.post(f"{base}/api/v1/nni/experiment", json=config, timeout=30).status_code == 200
    ctl = mp.controller
    stop = threading.Event()

    def agent(i: int) -> None:
        session = requests.Session()
        headers = {"Authorization": f"Bearer {mp.credentials.token_for(f'm{i}')}"}
        epoch, ack = None, 0
        while not stop.is_set():
            reply = session.post(f"{agent_base}/api/agent/v1/poll", headers=headers, timeout=30,
                                 json={"machine": f"m{i}", "boot": f"b{i}", "epoch": epoch, "ack": ack,
                                       "trials": {}, "wait": 10}).json()
            epoch = reply["epoch"]
            ack = max([ack] + [c["id"] for c in reply["commands"]])

    agents = [threading.Thread(target=agent, args=(i,), daemon=True) for i in range(AGENTS)]
    for t in agents:
        t.start()
    try:
        wait_for(lambda: sum(m.info.get("polling", 0) for m in ctl.hub.machines.values()) == AGENTS,
                 timeout=30, what="all 64 agents parked in a long-poll")
        for _ in range(20):  # every REST call is answered while all 64 polls are parked
            for route in ("check-status", "trial-jobs", "experiment", "job-statistics", "metric-data"):
                assert requests.get(f"{base}/api/v1/nni/{route}", timeout=5).status_code == 200
        assert sum(m.info.get("polling", 0) for m in ctl.hub.machines.values()) == AGENTS
        assert all(m.state == "ready" for m in ctl.hub.machines.values())
    finally:
        stop.set()
        with ctl.lock:
            ctl.stopping = True
            ctl.hub.notify_all()
        for t in agents:
            t.join(timeout=30)
        server.close()
        agents_server.close()
        mp.store.close()
