"""NNI's ``Hyperband`` advisor as an in-process tuner (Li et al. 2018).

Hyperband runs *brackets* s = s_max .. 0 (s_max = floor(log_eta R)); bracket s
starts n = ceil((s_max + 1) eta^s / (s + 1)) random configurations with budget
r = R / eta^s, and after each *rung* keeps the best 1/eta of them for eta
times the budget. The budget reaches the trial as ``parameters["TRIAL_BUDGET"]``
(an int: floor(r eta^i), as NNI). Promotions wait until every trial of the
rung has ended. In ``exec_mode='parallelism'`` (NNI's default) a new bracket
starts whenever nothing is queued, so nothing ever waits; in ``'serial'`` the
next bracket starts only when the current one is complete, and until then
:meth:`generate_parameters` raises :class:`NotReady`. After bracket 0 the cycle
starts again at s_max. No nested choices (as NNI); imported data is ignored.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..base import NotReady
from ..sampling import make_rng, sample_internal
from ..search_space import deformat_parameters
from ._common import BuiltinTuner, check_choice, check_number, check_seed

__all__ = ["HyperbandTuner", "TRIAL_BUDGET"]

TRIAL_BUDGET = "TRIAL_BUDGET"
_EPS = 1e-6


@dataclass
class _Bracket:
    """One bracket: its rungs' configurations, results and finished counts."""

    bracket_id: str
    s: int
    n: int
    r: float
    eta: int
    rung: int = 0
    configs: list[dict[int, dict[str, Any]]] = field(default_factory=list)   # rung -> {cfg: params}
    losses: list[dict[int, float]] = field(default_factory=list)             # rung -> {cfg: loss}
    finished: list[int] = field(default_factory=list)
    complete: bool = False

    def n_r(self, rung: int) -> tuple[int, int]:
        return (math.floor(self.n / self.eta ** rung + _EPS), math.floor(self.r * self.eta ** rung + _EPS))

    def add_rung(self, configs: dict[int, dict[str, Any]]) -> None:
        self.configs.append(configs)
        self.losses.append({})
        self.finished.append(0)

    def trial_ended(self, rung: int) -> list[tuple[int, dict[str, Any]]]:
        """Count an end; when the rung is done, the promoted configs of the next rung."""
        self.finished[rung] += 1
        if self.finished[rung] < len(self.configs[rung]) or rung != self.rung:
            return []
        self.rung += 1
        ranked = sorted(self.losses[rung], key=lambda cfg: self.losses[rung][cfg])
        n_next, budget = self.n_r(self.rung)
        if self.rung > self.s or not ranked or n_next < 1:
            self.complete = True
            return []
        promoted = {cfg: {**self.configs[rung][cfg], TRIAL_BUDGET: budget} for cfg in ranked[:n_next]}
        self.add_rung(promoted)
        return [(cfg, params) for cfg, params in promoted.items()]


class HyperbandTuner(BuiltinTuner):
    """Hyperband with NNI's arguments: ``R`` (max budget), ``eta``, ``optimize_mode``, ``exec_mode``."""

    allow_nested = False
    prefetch_refusal = "its brackets promote trials by the results of the rung before"

    def __init__(self, optimize_mode: str = "maximize", R: int = 60, eta: int = 3,
                 exec_mode: str = "parallelism", seed: int | None = None) -> None:
        super().__init__(optimize_mode)
        self.R = check_number("R", R, 1, integer=True)
        self.eta = check_number("eta", eta, 2, integer=True)
        self.exec_mode = check_choice("exec_mode", exec_mode, ("parallelism", "serial"))
        self.rng = make_rng(check_seed(seed))
        self.s_max = math.floor(math.log(self.R, self.eta) + _EPS)
        self.brackets: list[_Bracket] = []
        self._queue: list[tuple[_Bracket, int, int, dict[str, Any]]] = []   # bracket, rung, cfg, params
        self._trials: dict[int, tuple[_Bracket, int, int]] = {}
        self._next_s = self.s_max

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        self._require_space()
        if not self._queue:
            current = self.brackets[-1] if self.brackets else None
            if self.exec_mode == "serial" and current is not None and not current.complete:
                raise NotReady(f"hyperband: bracket {current.bracket_id} waits for rung {current.rung}")
            self._new_bracket()
        bracket, rung, cfg, params = self._queue.pop(0)
        self._trials[parameter_id] = (bracket, rung, cfg)
        return dict(params)

    def _new_bracket(self) -> None:
        s = self._next_s
        self._next_s = s - 1 if s > 0 else self.s_max
        n = math.ceil((self.s_max + 1) * self.eta ** s / (s + 1) - _EPS)
        bracket = _Bracket(f"{len(self.brackets) // (self.s_max + 1)}-{s}", s, n, self.R / self.eta ** s, self.eta)
        count, budget = bracket.n_r(0)
        configs = {cfg: {**self._new_config(budget), TRIAL_BUDGET: budget} for cfg in range(count)}
        bracket.add_rung(configs)
        self.brackets.append(bracket)
        self._queue += [(bracket, 0, cfg, params) for cfg, params in configs.items()]

    def _new_config(self, budget: int) -> dict[str, Any]:
        """A configuration for a new bracket's first rung: a random one (BOHB overrides this)."""
        return deformat_parameters(sample_internal(self.specs, self.rng), self.specs)

    def _observe(self, parameter_id: int, parameters: dict[str, Any], loss: float) -> None:
        if parameter_id in self._trials:
            bracket, rung, cfg = self._trials[parameter_id]
            bracket.losses[rung][cfg] = loss

    def _end(self, parameter_id: int, success: bool) -> None:
        entry = self._trials.pop(parameter_id, None)
        if entry is None:
            return
        bracket, rung, _ = entry
        for cfg, params in bracket.trial_ended(rung):
            self._queue.append((bracket, bracket.rung, cfg, params))
