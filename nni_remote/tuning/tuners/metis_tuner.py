"""NNI's ``Metis`` (``MetisTuner``): Gaussian-process search that also explores and checks its own optimum.

As NNI's Metis: ``cold_start_num`` random trials first; then a Gaussian
process of the results gives the predicted optimum (lowest predicted loss
over ``selection_num_starting_points`` random points and points near the
best ones), an *exploration* candidate (lowest ``mu - 1.96 sigma`` not yet
tried) and an *exploitation* candidate (the best predicted point near the best
result). Each candidate is scored by its information gain: the GP is refit
as if it had been tried at ``mu ± 1.96 sigma``, and the candidate whose
pessimistic refit lowers the predicted optimum most wins. With probability
``exploration_probability``, or when the predicted optimum was already tried,
the winning candidate (or a random point) is used; otherwise the predicted
optimum. Metis takes choice (numeric options only), randint, uniform and
quniform, as NNI; ``no_resampling`` and ``no_candidates`` keep NNI's meaning
(outlier re-sampling is not done here: repeats of noisy points are left to the
GP's noise term). numpy only (NNI's needs scikit-learn).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..sampling import make_rng
from ..search_space import Key, canonical_key, deformat_parameters
from ._common import ModelTuner, check_number, check_seed
from ._gp import GaussianProcess

__all__ = ["MetisTuner"]


class MetisTuner(ModelTuner):
    """Metis with NNI's classArgs (see the module docstring)."""

    support_types = ("choice", "randint", "uniform", "quniform")
    algorithm = "Metis"

    def __init__(self, optimize_mode: str = "maximize", no_resampling: bool = True, no_candidates: bool = False,
                 selection_num_starting_points: int = 600, cold_start_num: int = 10,
                 exploration_probability: float = 0.9, seed: int | None = None) -> None:
        super().__init__(optimize_mode)
        self.no_resampling = bool(no_resampling)
        self.no_candidates = bool(no_candidates)
        self.num_points = check_number("selection_num_starting_points", selection_num_starting_points, 1, integer=True)
        self.cold_start_num = check_number("cold_start_num", cold_start_num, 1, integer=True)
        self.exploration_probability = float(check_number("exploration_probability", exploration_probability, 0))
        self.rng = make_rng(check_seed(seed))
        self.tried: set[str] = set()
        self._options: dict[Key, np.ndarray] = {}

    def _space_changed(self) -> None:
        super()._space_changed()
        self._options = {s.key: np.array(sorted(float(v) for v in s.values)) for s in self.specs.values()
                         if s.type == "choice"}
        self.tried = set()

    # -- encoding: each parameter on [0, 1] ---------------------------------------------
    def _encode(self, internal: dict[Key, Any]) -> np.ndarray:
        out = []
        for spec in self.specs.values():
            x = internal[spec.key]
            if spec.type == "choice":
                opts = self._options[spec.key]
                span = opts[-1] - opts[0]
                out.append((float(spec.values[x]) - opts[0]) / span if span else 0.0)
            elif spec.type == "randint":
                span = spec.high - 1 - spec.low
                out.append((x - spec.low) / span if span else 0.0)
            else:
                out.append(float(x))
        return np.array(out)

    def _decode(self, vector: np.ndarray) -> dict[Key, Any]:
        internal: dict[Key, Any] = {}
        for u, spec in zip(np.clip(vector, 0, 1), self.specs.values()):
            if spec.type == "choice":
                opts = self._options[spec.key]
                target = opts[0] + u * (opts[-1] - opts[0])
                value = opts[int(np.argmin(np.abs(opts - target)))]
                internal[spec.key] = next(i for i, v in enumerate(spec.values) if float(v) == value)
            elif spec.type == "randint":
                internal[spec.key] = int(round(spec.low + u * (spec.high - 1 - spec.low)))
            else:
                internal[spec.key] = float(u)
        return internal

    def _params(self, vector: np.ndarray) -> dict[str, Any]:
        return deformat_parameters(self._decode(vector), self.specs)

    # -- selection -----------------------------------------------------------------------
    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        self._require_space()
        dims = len(self.specs)
        if len(self.losses) < self.cold_start_num:
            return self._remember(self._fresh_random(dims))
        x, y = np.array(self.xs), np.array(self.losses)
        gp = GaussianProcess().fit(x, y)
        points = self._candidates(x, y, dims)
        mu, sigma = gp.predict(points)
        optimum = points[int(np.argmin(mu))]
        choice = None
        if not self.no_candidates:
            choice = self._best_candidate(gp, x, y, points, mu, sigma, float(mu.min()))
        if self._key(optimum) in self.tried or self.rng.random() <= self.exploration_probability:
            return self._remember(choice if choice is not None else self._fresh_random(dims))
        return self._remember(optimum)

    def _candidates(self, x: np.ndarray, y: np.ndarray, dims: int) -> np.ndarray:
        random_points = self.rng.random((self.num_points, dims))
        best = x[np.argsort(y)[:5]]
        near = np.clip(best[self.rng.integers(len(best), size=self.num_points // 4)]
                       + self.rng.normal(0, 0.05, (self.num_points // 4, dims)), 0, 1)
        return np.vstack([random_points, near])

    def _best_candidate(self, gp: GaussianProcess, x: np.ndarray, y: np.ndarray, points: np.ndarray, mu: np.ndarray,
                        sigma: np.ndarray, lowest: float) -> np.ndarray | None:
        fresh = [i for i in range(len(points)) if self._key(points[i]) not in self.tried]
        if not fresh:
            return None
        explore = min(fresh, key=lambda i: mu[i] - 1.96 * sigma[i])
        near = [i for i in fresh if i >= len(points) - len(points) // 5]
        exploit = min(near, key=lambda i: mu[i]) if near else explore
        best, gain = None, 0.0
        for i in dict.fromkeys((explore, exploit)):
            worst_case = max(self._refit_lowest(gp, x, y, points, points[i], mu[i] + d * sigma[i])
                             for d in (1.96, -1.96))
            if worst_case - lowest < gain or best is None:
                best, gain = points[i], min(gain, worst_case - lowest)
        return best

    def _refit_lowest(self, gp: GaussianProcess, x: np.ndarray, y: np.ndarray, points: np.ndarray,
                      candidate: np.ndarray, outcome: float) -> float:
        """The predicted optimum if ``candidate`` had given ``outcome`` (same kernel settings as ``gp``)."""
        what_if = GaussianProcess().fit(np.vstack([x, candidate]), np.append(y, outcome), like=gp)
        return float(what_if.predict(points)[0].min())

    def _fresh_random(self, dims: int) -> np.ndarray:
        """A random point not tried yet (a tried one when 100 draws find none: small discrete spaces)."""
        for _ in range(100):
            vector = self.rng.random(dims)
            if self._key(vector) not in self.tried:
                return vector
        return vector

    def _key(self, vector: np.ndarray) -> str:
        return canonical_key(self._params(vector))

    def _remember(self, vector: np.ndarray) -> dict[str, Any]:
        params = self._params(vector)
        self.tried.add(canonical_key(params))
        return params

    # -- results ----------------------------------------------------------------------------
    def _import(self, parameters: dict[str, Any], loss: float) -> bool:
        self.tried.add(canonical_key(parameters))
        return super()._import(parameters, loss)
