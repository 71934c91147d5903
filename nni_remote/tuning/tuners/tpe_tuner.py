"""NNI's ``TPE`` on Optuna's ``TPESampler``, with NNI's arguments.

Defaults (a deliberate difference from NNI, measured by
``benchmarks/tuner_quality.py``): a ``tpe_args`` key the user does not give
takes Optuna's tuned default rather than NNI's. Only two keys differ:

- ``n_startup_jobs``: 10 random warm-up trials (NNI: 20);
- ``gamma``: the good group has ``min(ceil(0.1 * n), linear_forgetting)`` of
  ``n`` finished trials, Optuna's rule. NNI's rule,
  ``min(ceil(gamma * sqrt(n)), linear_forgetting)`` with ``gamma=0.25``, keeps
  only 3 trials in the good group after 100. Giving ``gamma`` explicitly
  selects NNI's rule.

With NNI's two values, the median best after 100 trials (10 seeds) was 0.4919
on Branin and -3.0852 on Hartmann6; with Optuna's, 0.4164 and -3.2068, the
same as Optuna's ``TPESampler`` driven directly (the trials are the same, seed
for seed). ``n_ei_candidates=24``, ``linear_forgetting=25``,
``prior_weight=1.0`` and the constant liar are the same in NNI and Optuna;
whatever else Optuna decides by default (Optuna 5 uses its multivariate TPE
for one objective) applies here too.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import optuna

from ._common import check_choice, check_number
from ._optuna import OptunaTuner, quiet_optuna

__all__ = ["DEFAULT_TPE_ARGS", "LegacyTpeTuner", "NNI_TPE_ARGS", "TpeTuner"]

#: NNI's ``tpe_args`` defaults (NNI-REFERENCE §5.5): the valid keys.
NNI_TPE_ARGS: dict[str, Any] = {"constant_liar_type": "best", "n_startup_jobs": 20, "n_ei_candidates": 24,
                                "linear_forgetting": 25, "prior_weight": 1.0, "gamma": 0.25}
#: Ours, used for keys the user leaves out; ``gamma=None`` means Optuna's rule (module docstring).
DEFAULT_TPE_ARGS: dict[str, Any] = {**NNI_TPE_ARGS, "n_startup_jobs": 10, "gamma": None}
#: Optuna's ``default_weights`` and ``default_gamma`` are NNI's rules at this linear_forgetting.
_OPTUNA_LINEAR_FORGETTING = 25


class TpeTuner(OptunaTuner):
    """Tree-structured Parzen Estimator; ``optimize_mode`` defaults to ``'minimize'`` as in NNI.

    ``tpe_args`` takes NNI's keys: ``n_startup_jobs`` (random warm-up trials),
    ``n_ei_candidates``, ``linear_forgetting`` (old trials' weights decay after
    this many), ``prior_weight``, ``gamma`` (when given, the good group has
    ``min(ceil(gamma * sqrt(n)), linear_forgetting)`` trials, as in NNI), and
    ``constant_liar_type``: ``None`` ignores running trials; ``'best'``,
    ``'worst'`` and ``'mean'`` all map to Optuna's constant liar, which treats
    running trials as bad ones (Optuna has no other liar). Keys left out take
    :data:`DEFAULT_TPE_ARGS` (see the module docstring for why two differ
    from NNI's).
    """

    def __init__(self, optimize_mode: str = "minimize", seed: int | None = None,
                 tpe_args: dict[str, Any] | None = None) -> None:
        super().__init__(optimize_mode, seed)
        if tpe_args is not None and not isinstance(tpe_args, dict):
            raise ValueError(f"tpe_args must be a dict; got {tpe_args!r}")
        unknown = sorted(set(tpe_args or {}) - set(NNI_TPE_ARGS))
        if unknown:
            raise ValueError(f"tpe_args has unknown key(s) {', '.join(unknown)}; valid: {', '.join(NNI_TPE_ARGS)}")
        args = {**DEFAULT_TPE_ARGS, **(tpe_args or {})}
        liar = args["constant_liar_type"]
        self.constant_liar = liar is not None and check_choice(
            "tpe_args.constant_liar_type", liar, ("best", "worst", "mean", "none")) != "none"
        self.n_startup_jobs = check_number("tpe_args.n_startup_jobs", args["n_startup_jobs"], 0, integer=True)
        self.n_ei_candidates = check_number("tpe_args.n_ei_candidates", args["n_ei_candidates"], 1, integer=True)
        self.linear_forgetting = check_number("tpe_args.linear_forgetting", args["linear_forgetting"], 1,
                                              integer=True)
        self.prior_weight = float(check_number("tpe_args.prior_weight", args["prior_weight"], 0))
        gamma = args["gamma"]
        self.gamma = None if gamma is None else float(check_number("tpe_args.gamma", gamma, 0, exclusive=True))

    def _make_sampler(self) -> optuna.samplers.BaseSampler:
        # prior_weight, gamma and weights are deprecated in recent Optuna: pass them only when
        # they differ from Optuna's own defaults (which ours are, see DEFAULT_TPE_ARGS).
        kwargs: dict[str, Any] = {}
        if self.prior_weight != 1.0:
            kwargs["prior_weight"] = self.prior_weight
        if self.gamma is not None or self.linear_forgetting != _OPTUNA_LINEAR_FORGETTING:
            kwargs["gamma"] = _n_below(self.gamma, self.linear_forgetting)
        if self.linear_forgetting != _OPTUNA_LINEAR_FORGETTING:
            kwargs["weights"] = _nni_weights(self.linear_forgetting)
        with quiet_optuna():
            return optuna.samplers.TPESampler(
                n_startup_trials=self.n_startup_jobs, n_ei_candidates=self.n_ei_candidates,
                seed=self.sampler_seed, constant_liar=self.constant_liar, **kwargs)


def _n_below(gamma: float | None, linear_forgetting: int) -> Callable[[int], int]:
    """How many of ``n`` finished trials form the good group: NNI's rule, or Optuna's for ``None``."""
    def n_below(n: int) -> int:
        if gamma is None:
            return min(math.ceil(0.1 * n), linear_forgetting)
        return min(math.ceil(gamma * math.sqrt(n)), linear_forgetting)
    return n_below


def _nni_weights(linear_forgetting: int) -> Callable[[int], np.ndarray]:
    """NNI's linear forgetting (equal to Optuna's ``default_weights`` at ``linear_forgetting=25``)."""
    def weights(n: int) -> np.ndarray:
        if n < linear_forgetting:
            return np.ones(n)
        return np.concatenate([np.linspace(1.0 / n, 1.0, n - linear_forgetting), np.ones(linear_forgetting)])
    return weights


class LegacyTpeTuner(TpeTuner):
    """NNI's ``TPE_legacy`` (hyperopt's TPE) on the same sampler as ``TPE``, with hyperopt's classArgs.

    ``parallel_optimize`` and ``constant_liar_type`` (``'min'``, ``'max'``,
    ``'mean'``) are hyperopt's ways to handle running trials; both map to the
    constant liar of :class:`TpeTuner`.
    """

    def __init__(self, optimize_mode: str = "minimize", parallel_optimize: bool = False,
                 constant_liar_type: str = "min", seed: int | None = None) -> None:
        check_choice("constant_liar_type", constant_liar_type, ("min", "max", "mean"))
        super().__init__(optimize_mode, seed, {"constant_liar_type": "best" if parallel_optimize else None})
