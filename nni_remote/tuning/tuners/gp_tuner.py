"""NNI's ``GP`` (``GPTuner``) on Optuna's ``GPSampler`` (Gaussian-process Bayesian optimization)."""
from __future__ import annotations

import importlib.util

import optuna

from ...errors import TunerError
from ._common import check_choice, check_number
from ._optuna import OptunaTuner, quiet_optuna

__all__ = ["GpTuner"]


class GpTuner(OptunaTuner):
    """Gaussian-process BO; ``cold_start_num`` random trials first (NNI's default 10).

    NNI's acquisition arguments (``utility``, ``kappa``, ``xi``, ``nu``,
    ``alpha``, ``selection_num_*``) are accepted for config compatibility and
    ignored: Optuna chooses its own kernel and acquisition (log EI). Needs
    ``GPSampler`` (Optuna >= 3.6) and its dependencies PyTorch and SciPy.
    """

    def __init__(self, optimize_mode: str = "maximize", utility: str = "ei", kappa: float = 5,
                 xi: float = 0, nu: float = 2.5, alpha: float = 1e-6, cold_start_num: int = 10,
                 selection_num_warm_up: int = 100000, selection_num_starting_points: int = 250,
                 seed: int | None = None) -> None:
        super().__init__(optimize_mode, seed)
        check_choice("utility", utility, ("ei", "ucb", "poi"))
        self.cold_start_num = check_number("cold_start_num", cold_start_num, 1, integer=True)
        missing = [m for m in ("torch", "scipy") if importlib.util.find_spec(m) is None]
        if not hasattr(optuna.samplers, "GPSampler"):
            raise TunerError(f"GP needs optuna.samplers.GPSampler (Optuna >= 3.6); found Optuna {optuna.__version__}")
        if missing:
            raise TunerError(f"GP needs {' and '.join(missing)}, not installed for the manager's Python; "
                             "to enable it: pip install 'nni-remote[gp]'")

    def _make_sampler(self) -> optuna.samplers.BaseSampler:
        with quiet_optuna():
            # nested choices are sampled independently (GPSampler has no dynamic spaces): expected, not warned
            return optuna.samplers.GPSampler(seed=self.sampler_seed, n_startup_trials=self.cold_start_num,
                                             warn_independent_sampling=False)
