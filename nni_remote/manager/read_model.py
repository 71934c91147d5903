"""What REST routes read: a consistent snapshot of the experiment, taken under its lock in one go.

Routes never take the controller's lock or read its members; they ask
:meth:`Controller.snapshot` and read the copy at leisure (trials are copies,
machines are plain dicts), so a slow client never holds up the dispatch loop
or the agents.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from nni_remote.errors import TrialNotFound
from nni_remote.manager.scheduler import Machine
from nni_remote.manager.trials import Trial

MachineView = dict[str, Any]


def _ms(seconds: Optional[float]) -> Optional[int]:
    return None if seconds is None else int(seconds * 1000)


def machine_view(m: Machine) -> MachineView:
    """One machine as REST shows it (``details`` are filled in by the route, from the training service)."""
    running = sorted({rid.split(".")[0] for rid in m.assigned})
    return {"name": m.name, "address": m.spec.address, "state": m.state, "error": m.error,
            "errors": [m.error] if m.error else [], "drained": m.state == "drained", "since": _ms(m.since),
            "lastHeartbeat": _ms(m.last_seen), "slots": m.spec.slots, "runningTrials": running,
            "gpus": m.gpus, "assignedGpus": {rid.split(".")[0]: list(g) for rid, g in m.assigned.items()},
            "gpuIndices": m.spec.gpu_indices, "startFailures": m.start_failures,
            "agent": {k: v for k, v in m.info.items() if k in ("pid", "python", "protocol")},
            "details": {}}


def copy_trial(trial: Trial) -> Trial:
    """A copy that later changes of the original never reach."""
    clone = object.__new__(type(trial))   # a shallow copy (3x cheaper than copy.copy), then fresh containers
    clone.__dict__.update(trial.__dict__)
    clone.history = dict(trial.history)
    clone.gpus = None if trial.gpus is None else list(trial.gpus)
    return clone


@dataclass(frozen=True)
class ExperimentSnapshot:
    """The experiment at one instant."""

    id: str
    status: str
    errors: tuple[str, ...]
    readonly: bool
    exp_dir: str
    profile: dict[str, Any]               # NNI's profile, execDuration and nextSequenceId current
    trials: tuple[Trial, ...]             # by sequence id
    machines: tuple[MachineView, ...]
    has_service: bool

    @property
    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = self.profile["params"]
        return params

    @property
    def exec_duration(self) -> int:
        return int(self.profile.get("execDuration", 0))

    def trial(self, trial_id: str) -> Trial:
        """The trial called ``trial_id``; TrialNotFound names the experiment."""
        for trial in self.trials:
            if trial.id == trial_id:
                return trial
        raise TrialNotFound(f"no trial {trial_id!r} in experiment {self.id}")

    def machine(self, name: Optional[str]) -> Optional[MachineView]:
        return next((m for m in self.machines if m["name"] == name), None)
