"""NNI's ``TPE`` on Optuna's ``TPESampler``, with NNI's arguments and defaults."""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import optuna

from ._common import check_choice, check_number
from ._optuna import OptunaTuner, quiet_optuna

__all__ = ["TpeTuner"]

_TPE_ARGS = {"constant_liar_type": "best", "n_startup_jobs": 20, "n_ei_candidates": 24,
             "linear_forgetting": 25, "prior_weight": 1.0, "gamma": 0.25}


class TpeTuner(OptunaTuner):
    """Tree-structured Parzen Estimator; ``optimize_mode`` defaults to ``'minimize'`` as in NNI.

    ``tpe_args`` takes NNI's keys: ``n_startup_jobs`` (random warm-up trials),
    ``n_ei_candidates``, ``linear_forgetting`` (old trials' weights decay after
    this many), ``prior_weight``, ``gamma`` (the good group has
    ``min(ceil(gamma * sqrt(n)), linear_forgetting)`` trials), and
    ``constant_liar_type``: ``None`` ignores running trials; ``'best'``,
    ``'worst'`` and ``'mean'`` all map to Optuna's constant liar, which treats
    running trials as bad ones (Optuna has no other liar).
    """

    def __init__(self, optimize_mode: str = "minimize", seed: int | None = None,
                 tpe_args: dict[str, Any] | None = None) -> None:
        super().__init__(optimize_mode, seed)
        if tpe_args is not None and not isinstance(tpe_args, dict):
            raise ValueError(f"tpe_args must be a dict; got {tpe_args!r}")
        unknown = sorted(set(tpe_args or {}) - set(_TPE_ARGS))
        if unknown:
            raise ValueError(f"tpe_args has unknown key(s) {', '.join(unknown)}; valid: {', '.join(_TPE_ARGS)}")
        args = {**_TPE_ARGS, **(tpe_args or {})}
        liar = args["constant_liar_type"]
        self.constant_liar = liar is not None and check_choice(
            "tpe_args.constant_liar_type", liar, ("best", "worst", "mean", "none")) != "none"
        self.n_startup_jobs = check_number("tpe_args.n_startup_jobs", args["n_startup_jobs"], 0, integer=True)
        self.n_ei_candidates = check_number("tpe_args.n_ei_candidates", args["n_ei_candidates"], 1, integer=True)
        self.linear_forgetting = check_number("tpe_args.linear_forgetting", args["linear_forgetting"], 1,
                                              integer=True)
        self.prior_weight = float(check_number("tpe_args.prior_weight", args["prior_weight"], 0))
        self.gamma = float(check_number("tpe_args.gamma", args["gamma"], 0, exclusive=True))

    def _make_sampler(self) -> optuna.samplers.BaseSampler:
        kwargs: dict[str, Any] = {}
        if self.prior_weight != 1.0:  # deprecated in recent Optuna; only pass a non-default
            kwargs["prior_weight"] = self.prior_weight
        with quiet_optuna():
            return optuna.samplers.TPESampler(
                n_startup_trials=self.n_startup_jobs, n_ei_candidates=self.n_ei_candidates,
                gamma=_nni_gamma(self.gamma, self.linear_forgetting),
                weights=_nni_weights(self.linear_forgetting), seed=self.seed,
                constant_liar=self.constant_liar, **kwargs)


def _nni_gamma(gamma: float, linear_forgetting: int) -> Callable[[int], int]:
    def n_below(n: int) -> int:
        return min(math.ceil(gamma * math.sqrt(n)), linear_forgetting)
    return n_below


def _nni_weights(linear_forgetting: int) -> Callable[[int], np.ndarray]:
    def weights(n: int) -> np.ndarray:
        if n < linear_forgetting:
            return np.ones(n)
        return np.concatenate([np.linspace(1.0 / n, 1.0, n - linear_forgetting), np.ones(linear_forgetting)])
    return weights
