"""Placement logic: property tests of the GPU allocator and the why-waiting messages."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nni_remote.manager.scheduler import Machine, Placement, free_gpus, impossible, place
from nni_remote.services.base import MachineSpec


@st.composite
def machines(draw):
    result = []
    for i in range(draw(st.integers(1, 4))):
        n = draw(st.integers(0, 4))
        indices = draw(st.one_of(st.none(), st.lists(st.integers(0, 4), unique=True, max_size=4)))
        per_gpu = draw(st.integers(1, 3))
        spec = MachineSpec(f"m{i}", slots=draw(st.integers(1, 12)), gpu_indices=indices,
                           max_trial_number_per_gpu=per_gpu, use_active_gpu=draw(st.booleans()))
        gpus = None if n == 0 and draw(st.booleans()) else [
            {"index": g, "processes": [{"pid": 1, "user": "other"}] if draw(st.booleans()) else []}
            for g in range(n)]
        m = Machine(spec, state=draw(st.sampled_from(["ready", "ready", "ready", "lost", "starting"])), gpus=gpus)
        for t in range(draw(st.integers(0, 6))):   # existing trials, within the limits
            free, _ = free_gpus(m)
            if free and len(m.assigned) < spec.slots:
                m.assigned[f"t{i}-{t}"] = [free[0]]
        result.append(m)
    return result


def usable(m: Machine, index: int) -> bool:
    gpu = next(g for g in m.gpus or [] if g["index"] == index)
    if m.spec.gpu_indices is not None and index not in m.spec.gpu_indices:
        return False
    return m.spec.use_active_gpu or not [p for p in gpu["processes"] if not p.get("ours")]


@settings(max_examples=400, deadline=None)
@given(machines(), st.integers(1, 3))
def test_gpu_placement_respects_every_limit(ms, gpu_number):
    result = place(ms, gpu_number)
    if isinstance(result, Placement):
        m = result.machine
        assert m.state == "ready" and len(result.gpus) == gpu_number == len(set(result.gpus))
        load = m.gpu_load()
        for g in result.gpus:
            assert usable(m, g), "an excluded or busy GPU was used"
            assert load.get(g, 0) < m.spec.max_trial_number_per_gpu, "over-allocated"
        assert len(m.assigned) < m.spec.slots
    else:
        assert result.startswith("waiting: needs")
        for m in ms:  # nothing fits anywhere: waiting is right
            if m.state == "ready" and len(m.assigned) < m.spec.slots:
                assert len(free_gpus(m)[0]) < gpu_number


@settings(max_examples=200, deadline=None)
@given(machines(), st.integers(1, 2))
def test_waiting_trials_fill_every_free_gpu(ms, gpu_number):
    """Placing trials one after another until one waits leaves no usable capacity behind."""
    placed = 0
    while True:
        result = place(ms, gpu_number)
        if isinstance(result, str):
            break
        result.machine.assigned[f"new{placed}"] = result.gpus
        placed += 1
        assert placed < 100
    for m in ms:
        if m.state == "ready" and len(m.assigned) < m.spec.slots:
            assert len(free_gpus(m)[0]) < gpu_number


def test_messages_name_each_machine_and_reason():
    a = Machine(MachineSpec("host-a", slots=4, max_trial_number_per_gpu=1), state="ready",
                gpus=[{"index": 0, "processes": []}])
    a.assigned["x"] = [0]
    b = Machine(MachineSpec("host-b", slots=4, use_active_gpu=False), state="ready",
                gpus=[{"index": 0, "processes": [{"pid": 7, "user": "bob"}]}, {"index": 1, "processes": []}])
    c = Machine(MachineSpec("host-c", slots=4), state="lost")
    message = place([a, b, c], 2)
    assert isinstance(message, str)
    assert "needs 2 GPUs" in message and "host-a: 0 free" in message and "GPU 0 full" in message
    assert "host-b: 1 free" in message and "GPU 0 used by another process (bob's)" in message
    assert "host-c: given up at" in message


def test_no_gpu_trials_spread_by_free_slots_and_zero_gpus_hide_them():
    ms = [Machine(MachineSpec(f"m{i}", slots=2), state="ready") for i in range(3)]
    seen = []
    for i in range(6):
        p = place(ms, None)
        assert isinstance(p, Placement) and p.gpus is None
        p.machine.assigned[str(i)] = []
        seen.append(p.machine.name)
    assert sorted(seen) == ["m0", "m0", "m1", "m1", "m2", "m2"]
    assert "2/2 slots busy" in place(ms, None)
    ms[0].assigned.clear()
    assert place(ms, 0).gpus == []          # trial_gpu_number 0: CUDA_VISIBLE_DEVICES=""


def test_impossible_gpu_request_is_reported():
    ms = [Machine(MachineSpec("a", slots=4), state="ready", gpus=[{"index": 0, "processes": []}]),
          Machine(MachineSpec("b", slots=4, gpu_indices=[0, 1]), state="ready",
                  gpus=[{"index": i, "processes": []} for i in range(4)])]
    assert impossible(ms, 2) is None
    reason = impossible(ms, 3)
    assert reason and "trial_gpu_number is 3" in reason and "a: 1" in reason


def test_spread_rotates_ties_and_pack_fills_one_machine_first():
    ms = [Machine(MachineSpec(f"m{i}", slots=4), state="ready", order=i) for i in range(3)]
    firsts = []
    for turn in range(3):                     # an idle cluster: each new turn starts on another machine
        firsts.append(place(ms, None, turn=turn).machine.name)
    assert sorted(firsts) == ["m0", "m1", "m2"]
    for i in range(3):                        # concurrent trials land on different machines
        place(ms, None, turn=i).machine.assigned[str(i)] = []
    assert all(len(m.assigned) == 1 for m in ms)
    packed = [Machine(MachineSpec(f"p{i}", slots=2), state="ready", order=i) for i in range(2)]
    for i in range(3):
        place(packed, None, placement="pack", turn=i).machine.assigned[str(i)] = []
    assert sorted(len(m.assigned) for m in packed) == [1, 2]


def test_first_ready_machine_takes_only_its_share_while_others_start():
    ms = [Machine(MachineSpec("a", slots=6), state="ready"),
          Machine(MachineSpec("b", slots=6), state="starting", order=1),
          Machine(MachineSpec("c", slots=6), state="starting", order=2)]
    for i in range(2):
        place(ms, None, wanted=6, turn=i).machine.assigned[str(i)] = []
    reason = place(ms, None, wanted=6)
    assert isinstance(reason, str) and "a: has its share (2)" in reason and "b: agent starting" in reason
    ms[1].state = "failed"                    # a machine that cannot start no longer holds the others back
    ms[2].state = "failed"
    assert place(ms, None, wanted=6).machine.name == "a"
