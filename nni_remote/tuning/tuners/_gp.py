"""A small Gaussian-process regressor in numpy (Matérn 5/2 kernel), for Metis.

Inputs are points of the unit cube; targets are standardized. The length
scale and noise are chosen from a small grid by marginal likelihood, which is
robust and fast for the few hundred points a tuner sees; a refit with one more
point (Metis's what-if) may reuse them.
"""
from __future__ import annotations

import numpy as np

__all__ = ["GaussianProcess"]

_LENGTHS = (0.05, 0.1, 0.2, 0.35, 0.6, 1.0)
_NOISES = (1e-6, 1e-3, 1e-2, 0.1)


def _forward(lower: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve ``lower @ x = b`` by substitution (LAPACK's threaded solvers stall on a loaded machine)."""
    x = np.zeros(b.shape)
    for i in range(len(lower)):
        x[i] = (b[i] - lower[i, :i] @ x[:i]) / lower[i, i]
    return x


def _backward(lower: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve ``lower.T @ x = b`` by substitution."""
    x = np.zeros(b.shape)
    for i in range(len(lower) - 1, -1, -1):
        x[i] = (b[i] - lower[i + 1:, i] @ x[i + 1:]) / lower[i, i]
    return x


def _matern52(a: np.ndarray, b: np.ndarray, length: float) -> np.ndarray:
    d = np.sqrt(np.maximum(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1), 0.0)) / length
    return np.asarray((1 + np.sqrt(5) * d + 5.0 / 3.0 * d ** 2) * np.exp(-np.sqrt(5) * d))


class GaussianProcess:
    """Fit with :meth:`fit`; :meth:`predict` gives mean and standard deviation in the targets' units."""

    length: float = _LENGTHS[0]
    noise: float = _NOISES[0]

    def fit(self, x: np.ndarray, y: np.ndarray, like: GaussianProcess | None = None) -> GaussianProcess:
        """Fit to ``x``, ``y``; with ``like``, reuse its length scale and noise instead of choosing them."""
        self.x = np.asarray(x, float)
        y = np.asarray(y, float)
        self.mean, self.scale = float(y.mean()), float(y.std()) or 1.0
        z = (y - self.mean) / self.scale
        best = None
        lengths: tuple[float, ...] = (like.length,) if like is not None else _LENGTHS
        noises: tuple[float, ...] = (like.noise,) if like is not None else _NOISES
        for length in lengths:
            k = _matern52(self.x, self.x, length)
            for noise in noises:
                try:
                    chol = np.linalg.cholesky(k + noise * np.eye(len(z)))
                except np.linalg.LinAlgError:
                    continue
                alpha = _backward(chol, _forward(chol, z))
                nll = 0.5 * z @ alpha + np.log(np.diag(chol)).sum()
                if best is None or nll < best[0]:
                    best = (nll, length, noise, chol, alpha)
        assert best is not None, "no kernel setting gave a positive-definite matrix"
        _, self.length, self.noise, self.chol, self.alpha = best
        return self

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = _matern52(np.asarray(x, float), self.x, self.length)
        mu = k @ self.alpha
        v = _forward(self.chol, k.T)
        var = np.maximum(1.0 - (v ** 2).sum(0), 1e-12)
        return mu * self.scale + self.mean, np.sqrt(var) * self.scale
