"""NNI's ``BOHB`` advisor (Falkner et al. 2018): Hyperband's brackets, new configurations from a TPE-style model.

Brackets as NNI's BOHB: ``s_max = floor(log_eta(max_budget / min_budget))``,
bracket s starts ``ceil((s_max + 1) eta^s / (s + 1))`` configurations at budget
``max_budget / eta^s`` (``TRIAL_BUDGET``, an int as in NNI), keeps the best
1/eta of each rung, and the next bracket starts when the current one is
complete (NNI's BOHB runs its brackets one after another).

New configurations come from a model once some budget ``b`` has
``n_min + 2`` finished results (``n_min = min_points_in_model``, default the
number of parameters + 1); the largest such budget is used. Its results are
split into the best ``top_n_percent`` % (at least ``n_min``) and the next ones, a
kernel density is fitted to each (Gaussian kernels with Scott's bandwidth,
at least ``min_bandwidth``, on the unit scale of continuous parameters;
Aitchison–Aitken kernels for choice and randint), ``num_samples`` candidates
are drawn around good points with bandwidths widened by ``bandwidth_factor``,
and the one maximising good/bad density is used. A ``random_fraction`` of
configurations is drawn from the prior anyway. This needs only numpy
(NNI's needs ConfigSpace and statsmodels).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..sampling import sample_internal
from ..search_space import ALL_TYPES, Key, deformat_parameters, format_parameters
from ._common import check_number
from .hyperband_tuner import TRIAL_BUDGET, HyperbandTuner

__all__ = ["BohbTuner"]

_EPS = 1e-6


class BohbTuner(HyperbandTuner):
    """BOHB with NNI's classArgs; ``config_space`` (a ConfigSpace file) is accepted and ignored."""

    support_types = ALL_TYPES

    def __init__(self, optimize_mode: str = "maximize", min_budget: float = 1, max_budget: float = 3,
                 eta: int = 3, min_points_in_model: int | None = None, top_n_percent: float = 15,
                 num_samples: int = 64, random_fraction: float = 1 / 3, bandwidth_factor: float = 3,
                 min_bandwidth: float = 1e-3, config_space: str | None = None, seed: int | None = None) -> None:
        self.min_budget = check_number("min_budget", min_budget, 0, exclusive=True)
        self.max_budget = check_number("max_budget", max_budget, self.min_budget)
        super().__init__(optimize_mode, R=max(1, int(math.floor(max_budget))), eta=eta, exec_mode="serial", seed=seed)
        self.R = self.max_budget
        self.s_max = math.floor(math.log(self.max_budget / self.min_budget, self.eta) + _EPS)
        self._next_s = self.s_max
        self.min_points_in_model = None if min_points_in_model is None else check_number(
            "min_points_in_model", min_points_in_model, 0, integer=True)
        self.top_n_percent = check_number("top_n_percent", top_n_percent, 0, exclusive=True)
        self.num_samples = check_number("num_samples", num_samples, 1, integer=True)
        self.random_fraction = float(check_number("random_fraction", random_fraction, 0))
        self.bandwidth_factor = float(check_number("bandwidth_factor", bandwidth_factor, 0, exclusive=True))
        self.min_bandwidth = float(check_number("min_bandwidth", min_bandwidth, 0))
        self.config_space = config_space
        self.observations: dict[float, list[tuple[np.ndarray, float]]] = {}

    # -- model data --------------------------------------------------------------
    def _space_changed(self) -> None:
        self.observations = {}

    def _vector(self, internal: dict[Key, Any]) -> np.ndarray:
        values = []
        for spec in self.specs.values():
            x = internal[spec.key]
            values.append(float(x - int(spec.low)) if spec.type == "randint" else float(x))
        return np.array(values)

    def _record(self, parameters: dict[str, Any], loss: float) -> bool:
        budget = parameters.get(TRIAL_BUDGET, self.max_budget)
        plain = {k: v for k, v in parameters.items() if k != TRIAL_BUDGET}
        try:
            internal = format_parameters(plain, self.specs)
        except ValueError:
            return False
        self.observations.setdefault(float(budget), []).append((self._vector(internal), loss))
        return True

    def _observe(self, parameter_id: int, parameters: dict[str, Any], loss: float) -> None:
        super()._observe(parameter_id, parameters, loss)
        self._record(parameters, loss)

    def _import(self, parameters: dict[str, Any], loss: float) -> bool:
        return self._record(parameters, loss)

    # -- sampling ---------------------------------------------------------------------
    def _new_config(self, budget: int) -> dict[str, Any]:
        internal = self._model_sample()
        if internal is None:
            internal = sample_internal(self.specs, self.rng)
        return deformat_parameters(internal, self.specs)

    def _model_data(self) -> tuple[np.ndarray, np.ndarray] | None:
        n_min = self.min_points_in_model or len(self.specs) + 1
        usable = [b for b, obs in self.observations.items() if len(obs) >= n_min + 2]
        if not usable or self.rng.random() < self.random_fraction:
            return None
        obs = sorted(self.observations[max(usable)], key=lambda o: o[1])
        n_good = max(n_min, int(self.top_n_percent * len(obs) / 100))
        n_bad = max(n_min, int((100 - self.top_n_percent) * len(obs) / 100))
        vectors = np.array([v for v, _ in obs])
        return vectors[:n_good], vectors[n_good:n_good + n_bad]

    def _bandwidths(self, points: np.ndarray) -> np.ndarray:
        n = len(points)
        widths = 1.06 * points.std(axis=0, ddof=1 if n > 1 else 0) * n ** (-1.0 / (points.shape[1] + 4))
        for i, spec in enumerate(self.specs.values()):
            if spec.discrete:
                widths[i] = min(widths[i] / max(spec.size - 1, 1), 0.5)   # Aitchison-Aitken lambda
        return np.asarray(np.maximum(widths, self.min_bandwidth))

    def _density(self, points: np.ndarray, widths: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Mean over ``points`` of product kernels, evaluated at each row of ``x``."""
        total = np.ones((len(x), len(points)))
        for i, spec in enumerate(self.specs.values()):
            diff = x[:, i:i + 1] - points[None, :, i]
            if spec.discrete:
                k = max(spec.size, 2)
                total *= np.where(np.abs(diff) < 0.5, 1 - widths[i], widths[i] / (k - 1))
            else:
                total *= np.exp(-0.5 * (diff / widths[i]) ** 2) / widths[i]
        return np.asarray(total.mean(axis=1))

    def _model_sample(self) -> dict[Key, Any] | None:
        data = self._model_data()
        if data is None:
            return None
        good, bad = data
        good_w, bad_w = self._bandwidths(good), self._bandwidths(bad)
        wide = good_w * self.bandwidth_factor
        centers = good[self.rng.integers(len(good), size=self.num_samples)]
        candidates = centers.copy()
        for i, spec in enumerate(self.specs.values()):
            if spec.discrete:
                move = self.rng.random(self.num_samples) < min(wide[i], 1.0)
                candidates[move, i] = self.rng.integers(spec.size, size=int(move.sum()))
            else:
                candidates[:, i] = np.clip(centers[:, i] + self.rng.normal(0, wide[i], self.num_samples), 0, 1)
        score = self._density(good, good_w, candidates) / np.maximum(self._density(bad, bad_w, candidates), 1e-32)
        best = candidates[int(np.argmax(score))]
        internal: dict[Key, Any] = {}
        for i, spec in enumerate(self.specs.values()):
            if spec.discrete:
                index = int(round(best[i]))
                internal[spec.key] = index + int(spec.low) if spec.type == "randint" else index
            else:
                internal[spec.key] = float(best[i])
        return internal
