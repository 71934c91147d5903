"""The agent hub without sockets: commands by poll, events stored exactly once, lost machines, kills."""
from __future__ import annotations

import json
from typing import Any

import pytest

from nni_remote import ExperimentConfig
from nni_remote.errors import UnknownMachine
from nni_remote.manager import agents
from nni_remote.manager.controller import Controller
from nni_remote.manager.store import Store
from nni_remote.manager.tuner_host import TunerHost
from nni_remote.services.base import HeadInfo, MachineSpec, TrainingService, TrialFile, TrialPaths


class TwoMachines(TrainingService):
    """A platform whose agents are played by the test."""

    platform = "stub"
    trials_survive_agent = False

    def machines(self) -> list[MachineSpec]:
        return [MachineSpec("m1", slots=1), MachineSpec("m2", slots=1)]

    def launch_machine(self, name: str, head: HeadInfo) -> None:
        return None

    def trial_paths(self, machine: str, trial_id: str) -> TrialPaths:
        return TrialPaths("/code", f"/trials/{trial_id}")

    def list_trial_files(self, machine: str, trial_id: str) -> list[TrialFile]:
        return []

    def read_trial_file(self, machine: str, trial_id: str, name: str, max_bytes: int) -> bytes:
        raise FileNotFoundError(name)

    def stop(self) -> None:
        pass


@pytest.fixture
def ctl(tmp_path, isolated_home):
    (tmp_path / "code").mkdir()
    config = ExperimentConfig("local", trial_command="python3 t.py", trial_code_directory=str(tmp_path / "code"),
                              trial_concurrency=2, max_trial_number=5, tuner={"name": "Random"},
                              search_space={"x": {"_type": "uniform", "_value": [0, 1]}}).canonical()
    store = Store(str(tmp_path / "db.sqlite"))
    c = Controller(exp_id="hub1", exp_dir=str(tmp_path), config=config, config_json=config.to_json(),
                   store=store, service=TwoMachines(config, str(tmp_path), "hub1"), action="create",
                   head=HeadInfo("http://127.0.0.1:1", 1, credential=lambda name: f"tok-{name}"))
    c.tuner = TunerHost(config.tuner, None)
    c.hub.setup_machines()
    yield c
    store.close()


def poll(ctl: Controller, machine: str, **body: Any) -> dict[str, Any]:
    return ctl.hub.poll({"machine": machine, "boot": body.pop("boot", "b1"), "wait": 0, **body}, machine)


def submit_and_place(ctl: Controller, n: int) -> list[Any]:
    with ctl.lock:
        trials = [ctl._submit(i, {"x": i / 10}, "algorithm") for i in range(n)]
        for name in ctl.hub.machines:
            ctl.hub.machines[name].set_state("ready")
        ctl.hub.place_waiting()
    return trials


def test_placed_trials_reach_their_machine_as_start_commands_until_acknowledged(ctl):
    first = poll(ctl, "m1")
    trials = submit_and_place(ctl, 2)
    reply = poll(ctl, "m1", epoch=first["epoch"])
    [start] = [c for c in reply["commands"] if c["type"] == "start"]
    spec = start["spec"]
    assert spec["trial_id"] in {t.id for t in trials} and spec["trial_dir"] == f"/trials/{spec['trial_id']}"
    assert spec["platform"] == "stub" and spec["command"] == "python3 t.py"
    again = poll(ctl, "m1", epoch=reply["epoch"])
    assert [c["id"] for c in again["commands"]] == [start["id"]]  # re-sent until acked
    assert poll(ctl, "m1", epoch=reply["epoch"], ack=start["id"])["commands"] == []
    with pytest.raises(UnknownMachine):
        poll(ctl, "nope")


def test_events_are_applied_exactly_once(ctl):
    [trial] = submit_and_place(ctl, 1)
    rid = trial.id
    metric = json.dumps({"type": "FINAL", "value": json.dumps({"default": 0.5}), "sequence": 0,
                         "parameter_id": trial.parameter_id})
    t0 = trial.submit_time
    events = [{"seq": 0, "type": "status", "status": "RUNNING", "pid": 42, "time": t0 + 1000},
              {"seq": 1, "type": "metric", "metric": metric},
              {"seq": 2, "type": "end", "exit_code": 0, "time": t0 + 2000}]
    other = "m2" if trial.machine == "m1" else "m1"
    assert ctl.hub.events({"trials": {rid: events}}, other) == {"acked": {rid: 3}}  # another machine's: ignored
    assert trial.status == "WAITING" or trial.status == "RUNNING" and trial.pid is None
    assert ctl.hub.events({"trials": {rid: events}}, trial.machine) == {"acked": {rid: 3}}
    assert ctl.hub.events({"trials": {rid: events}}, trial.machine) == {"acked": {rid: 3}}  # again: ignored
    assert trial.status == "SUCCEEDED" and trial.pid == 42 and trial.end_time == t0 + 2000
    finals = ctl.store.metrics(kind="FINAL")
    assert len(finals) == 1 and json.loads(json.loads(finals[0]["data"])) == {"default": 0.5}


def test_a_lost_machine_requeues_its_trials_as_next_attempts(ctl):
    trials = submit_and_place(ctl, 2)
    on_m1 = [t for t in trials if t.machine == "m1"]
    assert on_m1
    with ctl.lock:
        ctl.hub._mark_lost(ctl.hub.machines["m1"], "test")
    assert all(t.attempt == 1 and t.status == "WAITING" and t.machine is None for t in on_m1)
    assert ctl.hub.machines["m1"].state == "lost"
    assert on_m1[0] in ctl.queue


def test_killing_an_unsent_trial_finishes_it_at_once(ctl):
    with ctl.lock:
        trial = ctl._submit(0, {"x": 0.1}, "algorithm")
        ctl.hub.kill(trial, "user")
    assert trial.status == "USER_CANCELED" and trial not in ctl.queue


def test_retry_limit_gives_up(ctl, monkeypatch):
    monkeypatch.setattr(agents, "RETRY_LIMIT", 2)
    [trial] = submit_and_place(ctl, 1)
    with ctl.lock:
        ctl.hub.requeue(trial, "first loss")
        ctl.hub.requeue(trial, "second loss")
    assert trial.status == "FAILED" and "gave up after 2 attempts" in trial.message


def running(ctl: Controller, trial: Any, seq: int = 0) -> None:
    event = {"seq": seq, "type": "status", "status": "RUNNING", "pid": 40 + seq, "time": trial.submit_time + 1}
    ctl.hub.events({"trials": {agents.run_id(trial): [event]}}, trial.machine)


def queue_third(ctl: Controller) -> tuple[Any, Any, Any]:
    """prefetchTrials: two trials fill both machines' slots, a third is queued behind one of them."""
    ctl.prefetch = True
    first, second = submit_and_place(ctl, 2)
    with ctl.lock:
        third = ctl._submit(2, {"x": 0.2}, "algorithm")
        ctl.hub.place_waiting()
    return first, second, third


def test_prefetch_queues_the_next_trial_behind_a_busy_slot_and_it_takes_the_slot(ctl):
    first, second, third = queue_third(ctl)
    assert third.status == "WAITING" and third.after in {first.id, second.id} and third not in ctl.queue
    ahead = first if third.after == first.id else second
    m = ctl.hub.machines[ahead.machine]
    assert third.machine == m.name and agents.run_id(third) not in m.assigned       # holds no slot yet
    [start] = [c for c in m.commands if c["type"] == "start" and c["spec"]["trial_id"] == third.id]
    assert start["spec"]["after"] == ahead.id and start["spec"]["gpus"] == ahead.gpus
    running(ctl, third)                      # the agent started it: the run ahead has ended there
    assert third.status == "RUNNING" and third.after is None and agents.run_id(third) in m.assigned
    with ctl.lock:
        ctl.hub.kill(ahead, "user")


def test_prefetch_slot_passes_on_when_the_run_ahead_ends(ctl):
    *_, third = queue_third(ctl)
    with ctl.lock:
        ahead = ctl.trials[third.after]
        ctl.book.finish(ahead, "SUCCEEDED", "", ahead.submit_time + 5, 0)
    m = ctl.hub.machines[third.machine]
    assert third.after is None and agents.run_id(third) in m.assigned and agents.run_id(ahead) not in m.assigned


def test_prefetch_killing_a_queued_trial_ends_it_here_and_drops_it_there(ctl):
    *_, third = queue_third(ctl)
    with ctl.lock:
        ctl.hub.kill(third, "user")
    m = ctl.hub.machines[third.machine]
    assert third.status == "USER_CANCELED" and third.after is None and not ctl.hub.next_of
    assert any(c["type"] == "kill" and c["run_id"] == third.id for c in m.commands)


def test_prefetch_unreachable_machine_sends_its_queued_trial_back_as_a_new_attempt(ctl):
    *_, third = queue_third(ctl)
    with ctl.lock:
        m = ctl.hub.machines[third.machine]
        ctl.hub._mark_unreachable(m, 9.0)
    assert third.status == "WAITING" and third.machine is None and third.after is None and third.attempt >= 1
    assert third in ctl.queue and not third.sent and not ctl.hub.next_of
    assert any(c["type"] == "kill" and c["run_id"] == third.id for c in m.commands)
