"""DNGO's model in numpy: a tanh network trained by Adam, then Bayesian linear regression on its features."""
from __future__ import annotations

import numpy as np

__all__ = ["FeatureNet"]

_WIDTH = 50


class FeatureNet:
    """``fit(x, y, epochs)`` then ``predict(x) -> (mean, std)`` in the units of ``y``."""

    def __init__(self, dims: int, rng: np.random.Generator) -> None:
        sizes = [dims, _WIDTH, _WIDTH, _WIDTH, 1]
        self.weights = [rng.normal(0, 1 / np.sqrt(a), (a, b)) for a, b in zip(sizes, sizes[1:])]
        self.biases = [np.zeros(b) for b in sizes[1:]]
        self.rng = rng

    def _forward(self, x: np.ndarray) -> list[np.ndarray]:
        layers = [x]
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            layers.append(np.tanh(layers[-1] @ w + b))
        layers.append(layers[-1] @ self.weights[-1] + self.biases[-1])
        return layers

    def fit(self, x: np.ndarray, y: np.ndarray, epochs: int, lr: float = 0.01) -> FeatureNet:
        self.mean, self.scale = float(y.mean()), float(y.std()) or 1.0
        z = ((y - self.mean) / self.scale)[:, None]
        params = self.weights + self.biases
        m = [np.zeros_like(p) for p in params]
        v = [np.zeros_like(p) for p in params]
        batch = min(10, len(x))
        step = 0
        for _ in range(epochs):
            order = self.rng.permutation(len(x))
            for start in range(0, len(x), batch):
                idx = order[start:start + batch]
                grads = self._gradients(x[idx], z[idx])
                step += 1
                for i, g in enumerate(grads):
                    m[i] = 0.9 * m[i] + 0.1 * g
                    v[i] = 0.999 * v[i] + 0.001 * g * g
                    params[i] -= lr * (m[i] / (1 - 0.9 ** step)) / (np.sqrt(v[i] / (1 - 0.999 ** step)) + 1e-8)
        self.update_head(x, y)
        return self

    def update_head(self, x: np.ndarray, y: np.ndarray) -> None:
        """Refit the Bayesian linear regression on all results, keeping the network's features."""
        self._bayesian_head(x, (y - self.mean) / self.scale)

    def _gradients(self, x: np.ndarray, z: np.ndarray) -> list[np.ndarray]:
        layers = self._forward(x)
        delta = 2 * (layers[-1] - z) / len(x)
        grads_w: list[np.ndarray] = []
        grads_b: list[np.ndarray] = []
        for i in range(len(self.weights) - 1, -1, -1):
            grads_w.insert(0, layers[i].T @ delta)
            grads_b.insert(0, delta.sum(0))
            if i:
                delta = (delta @ self.weights[i].T) * (1 - layers[i] ** 2)
        return grads_w + grads_b

    def _features(self, x: np.ndarray) -> np.ndarray:
        phi = self._forward(x)[-2]
        return np.hstack([phi, np.ones((len(x), 1))])

    def _bayesian_head(self, x: np.ndarray, z: np.ndarray) -> None:
        phi = self._features(x)
        best = None
        for alpha in (1e-3, 1e-2, 1e-1, 1.0):
            for beta in (1.0, 10.0, 100.0, 1000.0):
                a = beta * phi.T @ phi + alpha * np.eye(phi.shape[1])
                try:
                    chol = np.linalg.cholesky(a)
                except np.linalg.LinAlgError:
                    continue
                mean = beta * np.linalg.solve(a, phi.T @ z)
                n, d = phi.shape
                evidence = (d / 2 * np.log(alpha) + n / 2 * np.log(beta)
                            - beta / 2 * np.sum((z - phi @ mean) ** 2) - alpha / 2 * mean @ mean
                            - np.log(np.diag(chol)).sum())
                if best is None or evidence > best[0]:
                    best = (evidence, beta, mean, np.linalg.inv(a))
        assert best is not None
        _, self.beta, self.head, self.cov = best

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        phi = self._features(x)
        mu = phi @ self.head
        var = 1.0 / self.beta + np.einsum("ij,jk,ik->i", phi, self.cov, phi)
        return mu * self.scale + self.mean, np.sqrt(np.maximum(var, 1e-12)) * self.scale
