"""Placement: which machine (and which GPUs) a waiting trial goes to, or why it waits.

Pure logic over :class:`Machine` states; no I/O. With ``placement: spread`` (the
default) a trial goes to the least-loaded machine (fewest trials per slot), ties
broken by a rotating turn so that concurrent trials land on different machines;
while other machines are still starting, a ready machine takes no more than its
fair share, so the first machine up does not receive every initial trial. With
``placement: pack`` a trial goes to the busiest machine that still has room. Trials with ``trial_gpu_number`` GPUs get GPUs that are
allowed (``gpu_indices``), below ``max_trial_number_per_gpu`` and, unless
``use_active_gpu``, not busy with someone else's process (NNI-REFERENCE §6.5).
When nothing fits, :func:`place` returns the reason, naming each machine.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from nni_remote.services.base import MachineSpec


@dataclass
class Machine:
    """Runtime state of one machine as the manager sees it."""

    spec: MachineSpec
    state: str = "starting"            # starting | ready | lost | failed | drained
    error: Optional[str] = None
    since: float = field(default_factory=time.time)
    last_seen: Optional[float] = None
    boot: Optional[str] = None
    synced: bool = False               # has polled since this manager started
    inventory: dict[str, str] = field(default_factory=dict)
    queued: dict[str, str] = field(default_factory=dict)           # run queued there -> the run it waits for
    gpus: Optional[list[dict[str, Any]]] = None
    commands: list[dict[str, Any]] = field(default_factory=list)
    next_command: int = 1
    assigned: dict[str, list[int]] = field(default_factory=dict)   # trial id -> GPU indices
    start_failures: int = 0
    info: dict[str, Any] = field(default_factory=dict)
    order: int = 0                     # position in the machine list (for the rotating tie-break)

    @property
    def name(self) -> str:
        return self.spec.name

    def set_state(self, state: str, error: Optional[str] = None) -> None:
        if state != self.state:
            self.since = time.time()
        self.state, self.error = state, error

    def gpu_load(self) -> dict[int, int]:
        load: dict[int, int] = {}
        for gpus in self.assigned.values():
            for g in gpus:
                load[g] = load.get(g, 0) + 1
        return load


@dataclass
class Placement:
    machine: Machine
    gpus: Optional[list[int]]          # None: CUDA_VISIBLE_DEVICES untouched


def _since(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


STARTING_GRACE = 30.0                  # seconds a ready machine waits for starting ones before taking more


def _unavailable(m: Machine) -> Optional[str]:
    if m.state == "ready":
        return None
    if m.state == "unreachable":
        return f"{m.name}: unreachable since {_since(m.since)}"
    if m.state == "lost":
        return f"{m.name}: given up at {_since(m.since)} ({m.error or 'unreachable'})"
    if m.state == "drained":
        return f"{m.name}: drained ({m.error or 'trials kept failing at start-up'})"
    if m.state == "failed":
        return f"{m.name}: failed to start ({m.error})"
    return f"{m.name}: agent starting"


def free_gpus(m: Machine) -> tuple[list[int], list[str]]:
    """GPUs of ``m`` that can take one more trial, and notes on the ones that can't."""
    if not m.gpus:
        return [], [f"{m.name}: no GPUs"]
    allowed = m.spec.gpu_indices
    load = m.gpu_load()
    free, notes = [], []
    for gpu in m.gpus:
        index = gpu["index"]
        if allowed is not None and index not in allowed:
            continue
        if load.get(index, 0) >= m.spec.max_trial_number_per_gpu:
            notes.append(f"GPU {index} full ({load[index]}/{m.spec.max_trial_number_per_gpu} trials)")
            continue
        foreign = [p for p in gpu.get("processes") or [] if not p.get("ours")]
        if not m.spec.use_active_gpu and foreign:
            users = sorted({p.get("user") or "?" for p in foreign})
            notes.append(f"GPU {index} used by another process ({', '.join(users)}'s)")
            continue
        free.append(index)
    return free, notes


def _fair_share(machines: list[Machine], wanted: int) -> Optional[int]:
    """While machines are still starting (spread): the most trials one ready machine should take."""
    now = time.time()
    starting = [m for m in machines if m.state == "starting" and now - m.since < STARTING_GRACE]
    if not starting:
        return None
    coming = [m for m in machines if m.state in ("ready", "starting")]
    return max(1, wanted // max(1, len(coming)))  # rounded down: the remainder waits for the late machines


def _rank(m: Machine, turn: int, count: int, pack: bool) -> tuple[float, int]:
    load = len(m.assigned) / max(1, m.spec.slots)
    rotation = (m.order - turn) % max(1, count)
    return (-load if pack else load, rotation)


def place(machines: list[Machine], gpu_number: Optional[int], *, placement: str = "spread", turn: int = 0,
          wanted: int = 0) -> Union[Placement, str]:
    """Pick a machine (and GPUs) for one trial, or return why it has to wait.

    ``turn`` rotates the tie-break (the caller increases it after each
    placement); ``wanted`` is how many trials should run at once (for the fair
    share while machines start).
    """
    reasons: list[str] = []
    pack = placement == "pack"
    share = None if pack else _fair_share(machines, wanted)
    if not gpu_number:
        best: Optional[Machine] = None
        for m in machines:
            why = _unavailable(m)
            if why:
                reasons.append(why)
                continue
            free = m.spec.slots - len(m.assigned)
            if free <= 0:
                reasons.append(f"{m.name}: {len(m.assigned)}/{m.spec.slots} slots busy")
            elif share is not None and len(m.assigned) >= share:
                reasons.append(f"{m.name}: has its share ({len(m.assigned)}) while other machines start")
            elif best is None or _rank(m, turn, len(machines), pack) < _rank(best, turn, len(machines), pack):
                best = m
        if best is not None:
            return Placement(best, [] if gpu_number == 0 else None)
        return "waiting: " + "; ".join(reasons) if reasons else "waiting: no machine"
    candidates: list[tuple[int, Machine, list[int]]] = []
    for m in machines:
        why = _unavailable(m)
        if why:
            reasons.append(why)
            continue
        if len(m.assigned) >= m.spec.slots:
            reasons.append(f"{m.name}: {len(m.assigned)}/{m.spec.slots} slots busy")
            continue
        usable, notes = free_gpus(m)
        if len(usable) >= gpu_number:
            load = m.gpu_load()
            chosen = sorted(usable, key=lambda g: (load.get(g, 0), g))[:gpu_number]
            candidates.append((len(usable), m, sorted(chosen)))
        else:
            detail = f"{len(usable)} free" + (f" ({'; '.join(notes)})" if notes else "")
            reasons.append(f"{m.name}: {detail}")
    if candidates:
        candidates.sort(key=lambda c: (-c[0], _rank(c[1], turn, len(machines), pack)[1]))
        _, machine, gpus = candidates[0]
        return Placement(machine, gpus)
    return f"waiting: needs {gpu_number} GPU{'s' if gpu_number > 1 else ''}; " + "; ".join(reasons)


def impossible(machines: list[Machine], gpu_number: Optional[int]) -> Optional[str]:
    """A reason no machine could *ever* run a trial with ``gpu_number`` GPUs, else None."""
    if not gpu_number:
        return None
    known = [m for m in machines if m.gpus is not None or m.state == "ready"]
    if not known or any(m.state in ("starting",) for m in machines):
        return None
    best = 0
    for m in known:
        indices = [g["index"] for g in (m.gpus or [])]
        if m.spec.gpu_indices is not None:
            indices = [i for i in indices if i in m.spec.gpu_indices]
        best = max(best, len(indices))
    if best < gpu_number:
        sizes = ", ".join(f"{m.name}: {len(m.gpus or [])}" for m in machines)
        return (f"trial_gpu_number is {gpu_number} but no machine has that many usable GPUs ({sizes}); "
                "lower trialGpuNumber or add a machine with more GPUs")
    return None
