"""``CMAES`` (alias ``CMA-ES``), an extra beyond NNI: Optuna's ``CmaEsSampler``."""
from __future__ import annotations

import importlib.util

import optuna

from ...errors import TunerError
from ._common import check_number
from ._optuna import OptunaTuner, quiet_optuna

__all__ = ["CmaEsTuner"]


class CmaEsTuner(OptunaTuner):
    """Covariance Matrix Adaptation Evolution Strategy over the continuous and int parameters.

    Choices and nested sub-parameters are drawn at random (Optuna's independent
    sampler), so it suits mostly-continuous spaces. ``sigma0`` is the initial
    step size in the unit space (default Optuna's, 1/6), ``popsize`` the
    population size, ``n_startup_trials`` random trials first. Needs the
    ``cmaes`` package (``pip install cmaes``). ``optimize_mode`` defaults to
    ``'maximize'`` like most NNI tuners.
    """

    def __init__(self, optimize_mode: str = "maximize", seed: int | None = None,
                 sigma0: float | None = None, popsize: int | None = None,
                 n_startup_trials: int = 1) -> None:
        super().__init__(optimize_mode, seed)
        if importlib.util.find_spec("cmaes") is None:
            raise TunerError("CMAES needs the 'cmaes' package on the head node: pip install cmaes")
        self.sigma0 = None if sigma0 is None else float(check_number("sigma0", sigma0, 0, exclusive=True))
        self.popsize = None if popsize is None else check_number("popsize", popsize, 2, integer=True)
        self.n_startup_trials = check_number("n_startup_trials", n_startup_trials, 0, integer=True)

    def _make_sampler(self) -> optuna.samplers.BaseSampler:
        with quiet_optuna():
            return optuna.samplers.CmaEsSampler(
                sigma0=self.sigma0, popsize=self.popsize, n_startup_trials=self.n_startup_trials,
                seed=self.sampler_seed, warn_independent_sampling=False)
