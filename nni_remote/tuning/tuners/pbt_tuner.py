"""NNI's ``PBT`` (``PBTTuner``): population-based training with checkpoints the trials save and load.

As NNI: ``population_size`` members start from random parameters; every
trial trains one *step* and gets, besides its parameters,
``load_checkpoint_dir`` and ``save_checkpoint_dir`` =
``<all_checkpoint_dir>/<member>/<step>`` (the trial loads its model from
the first, if it exists, and saves to the second). When all members of a
step have ended, members are ranked by their result (a failed trial ranks
last); the bottom ``fraction`` copy a random top ``fraction`` member (its
parameters, and its ``save_checkpoint_dir`` as their ``load_checkpoint_dir``)
and *explore*: each parameter is redrawn from its prior with
``resample_probability``, else moved by ``±factor`` of its range (for log
types, of the log range; for normal types, of the prior's quantiles; a
choice or randint moves to a neighbouring value). The others continue from
their own checkpoints. Until a step is complete, :meth:`generate_parameters`
raises :class:`NotReady`.

``all_checkpoint_dir`` defaults to ``$NNI_CHECKPOINT_DIRECTORY`` (NNI's
default; the manager sets it to the experiment's ``checkpoint`` folder, see
``tuning/checkpoints.py``), else ``~/nni-remote/pbt-checkpoints``; on remote
machines it must be a folder every trial can reach (shared storage), as in NNI.
"""
from __future__ import annotations

import os
from typing import Any

from ..base import NotReady
from ..sampling import make_rng, sample_internal, sample_spec
from ..search_space import Key, ParamSpec, deformat_parameters
from ._common import BuiltinTuner, check_number, check_seed

__all__ = ["PbtTuner"]

LOAD, SAVE = "load_checkpoint_dir", "save_checkpoint_dir"


class _Member:
    def __init__(self, index: int, internal: dict[Key, Any], folder: str) -> None:
        self.index, self.internal, self.folder = index, internal, folder
        self.load = self.save = ""
        self.loss: float | None = None


class PbtTuner(BuiltinTuner):
    """PBT with NNI's classArgs (see the module docstring)."""

    allow_nested = False
    prefetch_refusal = "it builds each generation from the results of the one before"

    def __init__(self, optimize_mode: str = "maximize", all_checkpoint_dir: str | None = None,
                 population_size: int = 10, factor: float = 0.2, resample_probability: float = 0.25,
                 fraction: float = 0.2, seed: int | None = None) -> None:
        super().__init__(optimize_mode)
        default = os.environ.get("NNI_CHECKPOINT_DIRECTORY") or os.path.join("~", "nni-remote", "pbt-checkpoints")
        self.all_checkpoint_dir = os.path.expanduser(all_checkpoint_dir or default)
        self.population_size = check_number("population_size", population_size, 1, integer=True)
        self.factor = float(check_number("factor", factor, 0))
        self.resample_probability = float(check_number("resample_probability", resample_probability, 0))
        self.fraction = float(check_number("fraction", fraction, 0))
        self.rng = make_rng(check_seed(seed))
        self.step = 0
        self.population: list[_Member] = []
        self._next = 0
        self._running: dict[int, _Member] = {}
        self._ended = 0

    def _space_changed(self) -> None:
        self.step, self._next, self._ended, self._running = 0, 0, 0, {}
        self.population = []
        for i in range(self.population_size):
            member = _Member(i, sample_internal(self.specs, self.rng), os.path.join(self.all_checkpoint_dir, str(i)))
            member.load = member.save = os.path.join(member.folder, "0")
            self.population.append(member)

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        self._require_space()
        if self._next >= len(self.population):
            raise NotReady(f"PBT step {self.step}: waiting for the population's trials to end")
        member = self.population[self._next]
        self._next += 1
        member.loss = None
        self._running[parameter_id] = member
        return {**deformat_parameters(member.internal, self.specs), LOAD: member.load, SAVE: member.save}

    def _observe(self, parameter_id: int, parameters: dict[str, Any], loss: float) -> None:
        member = self._running.get(parameter_id)
        if member is not None:
            member.loss = loss

    def _end(self, parameter_id: int, success: bool) -> None:
        member = self._running.pop(parameter_id, None)
        if member is None:
            return
        if not success:
            member.loss = None
        self._ended += 1
        if self._ended == len(self.population):
            self._next_step()

    def _next_step(self) -> None:
        self.step += 1
        ranked = sorted(self.population, key=lambda m: float("inf") if m.loss is None else m.loss)
        cutoff = int(-(-self.fraction * len(ranked) // 1))
        tops, bottoms = ranked[:cutoff], ranked[len(ranked) - cutoff:] if cutoff else []
        saved = {m.index: (m.save, dict(m.internal)) for m in ranked}
        for member in ranked:
            if member in bottoms and tops:
                top = tops[int(self.rng.integers(len(tops)))]
                member.load, internal = saved[top.index]
                member.internal = {k: self._explore(self.specs[k], v) for k, v in internal.items()}
            else:
                member.load = member.save
            member.save = os.path.join(member.folder, str(self.step))
        self.population = sorted(ranked, key=lambda m: m.index)
        self._next, self._ended = 0, 0

    def _explore(self, spec: ParamSpec, value: Any) -> Any:
        if self.rng.random() < self.resample_probability:
            return sample_spec(spec, self.rng)
        sign = 1 if self.rng.random() < 0.5 else -1
        if spec.discrete:
            low = int(spec.low) if spec.type == "randint" else 0
            return min(max(value + sign, low), low + spec.size - 1)
        return min(max(value + sign * self.factor, 0.0), 1.0)
