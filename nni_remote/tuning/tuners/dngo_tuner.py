"""NNI's ``DNGO`` (``DNGOTuner``): Bayesian optimization with a neural network's features (Snoek et al. 2015).

A small network (three tanh layers of 50 units) is trained on the results so
far (``num_epochs_per_training`` epochs of Adam); Bayesian linear regression on
its last layer's features gives a mean and a variance, and of ``sample_size``
random points the one with the highest expected improvement is tried. The
network is retrained after every ``trials_per_update`` new results (the
regression on its features after every result); until the
first ``trials_per_update`` results, points are random (NNI's behaviour).
Types as NNI's DNGO: choice (numeric), randint, uniform, quniform, loguniform,
qloguniform. numpy only (NNI's needs pybnn and PyTorch).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..sampling import make_rng, sample_internal
from ..search_space import Key, deformat_parameters
from ._common import ModelTuner, check_number, check_seed
from ._mlp import FeatureNet

__all__ = ["DngoTuner"]


def _expected_improvement(mu: np.ndarray, sigma: np.ndarray, best: float) -> np.ndarray:
    z = (best - mu) / sigma
    cdf = 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))
    pdf = np.exp(-0.5 * z ** 2) / math.sqrt(2 * math.pi)
    return np.asarray((best - mu) * cdf + sigma * pdf)


class DngoTuner(ModelTuner):
    """DNGO with NNI's classArgs (see the module docstring)."""

    support_types = ("choice", "randint", "uniform", "quniform", "loguniform", "qloguniform")
    algorithm = "DNGO"

    def __init__(self, optimize_mode: str = "maximize", sample_size: int = 1000, trials_per_update: int = 20,
                 num_epochs_per_training: int = 500, seed: int | None = None) -> None:
        super().__init__(optimize_mode)
        self.sample_size = check_number("sample_size", sample_size, 1, integer=True)
        self.trials_per_update = check_number("trials_per_update", trials_per_update, 1, integer=True)
        self.num_epochs = check_number("num_epochs_per_training", num_epochs_per_training, 1, integer=True)
        self.rng = make_rng(check_seed(seed))
        self.model: FeatureNet | None = None
        self._trained_on = 0

    def _space_changed(self) -> None:
        super()._space_changed()
        self.model, self._trained_on = None, 0

    def _encode(self, internal: dict[Key, Any]) -> np.ndarray:
        out = []
        for spec in self.specs.values():
            x = internal[spec.key]
            if spec.discrete:
                low = int(spec.low) if spec.type == "randint" else 0
                out.append((x - low) / max(spec.size - 1, 1))
            else:
                out.append(float(x))
        return np.array(out)

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        self._require_space()
        samples = [sample_internal(self.specs, self.rng) for _ in range(self.sample_size)]
        if len(self.losses) < self.trials_per_update:
            return deformat_parameters(samples[0], self.specs)
        if self.model is None or len(self.losses) - self._trained_on >= self.trials_per_update:
            self.model = FeatureNet(len(self.specs), self.rng).fit(np.array(self.xs), np.array(self.losses),
                                                                  self.num_epochs)
            self._trained_on = len(self.losses)
        else:
            self.model.update_head(np.array(self.xs), np.array(self.losses))
        mu, sigma = self.model.predict(np.array([self._encode(s) for s in samples]))
        best = int(np.argmax(_expected_improvement(mu, sigma, min(self.losses))))
        return deformat_parameters(samples[best], self.specs)
