"""A tuner driven by an Optuna sampler through ask/tell on an in-memory study.

The NNI space maps to Optuna distributions per :class:`ParamSpec`: ``choice`` →
``CategoricalDistribution`` over option indices, ``randint`` →
``IntDistribution(low, high - 1)``, every continuous type →
``FloatDistribution(0, 1)`` over the prior's CDF (so log types are searched in
log space, normal types by quantile; q rounding happens after). Nested choices
use define-by-run: only the chosen option's sub-parameters are suggested.

The study always *minimizes the loss* (see :class:`BuiltinTuner`). Results may
arrive in any order; a trial that ends without a usable result is told FAIL.
Imported data becomes finished trials; a seeded tuner then reseeds its
sampler (from the seed and the number of known trials), so a resumed
experiment does not replay its first random draws. A search-space update
starts a new study and replays every finished trial that fits the new space.
"""
from __future__ import annotations

import contextlib
import logging
import warnings
from typing import Any, Iterator

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import Trial, TrialState

from ..search_space import Key, ParamSpec, deformat_parameters, format_parameters
from ._common import BuiltinTuner, check_seed, derive_seed

__all__ = ["OptunaTuner", "quiet_optuna"]

optuna.logging.set_verbosity(optuna.logging.WARNING)
_logger = logging.getLogger("nni_remote.tuning")


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Silence Optuna's ExperimentalWarning and FutureWarning (deprecations) inside the block.

    Only sampler and study construction warn; ``catch_warnings`` mutates global
    state, so it is kept out of the per-trial calls.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def distribution(spec: ParamSpec) -> BaseDistribution:
    """The Optuna distribution of one parameter's internal value."""
    if spec.type == "choice":
        return CategoricalDistribution(list(range(spec.size)))
    if spec.type == "randint":
        return IntDistribution(int(spec.low), int(spec.high) - 1)
    return FloatDistribution(0.0, 1.0)


class OptunaTuner(BuiltinTuner):
    """Base of the Optuna-backed tuners; subclasses provide :meth:`_make_sampler`."""

    def __init__(self, optimize_mode: str = "maximize", seed: int | None = None) -> None:
        super().__init__(optimize_mode)
        self.seed = check_seed(seed)
        self.sampler_seed = self.seed   # what _make_sampler passes to Optuna
        self._sampler: optuna.samplers.BaseSampler | None = None
        self.study: optuna.Study | None = None
        self._pending: dict[int, Trial] = {}
        self._finished: list[tuple[dict[str, Any], float]] = []

    def _make_sampler(self) -> optuna.samplers.BaseSampler:
        """A new sampler seeded with :attr:`sampler_seed`."""
        raise NotImplementedError

    def _imported(self, count: int) -> None:
        if self.seed is None or self.study is None:
            return
        self.sampler_seed = derive_seed(self.seed, len(self._finished))
        with quiet_optuna():
            self._sampler = self._make_sampler()
        self.study.sampler = self._sampler

    def _space_changed(self) -> None:
        with quiet_optuna():
            if self._sampler is None:
                self._sampler = self._make_sampler()
            self.study = optuna.create_study(direction="minimize", sampler=self._sampler)
        self._pending.clear()
        finished, self._finished = self._finished, []
        for params, loss in finished:
            if self._add_finished(params, loss):
                self._finished.append((params, loss))

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        self._require_space()
        assert self.study is not None
        trial = self.study.ask()
        internal: dict[Key, Any] = {}
        for key, spec in self.specs.items():
            if spec.is_active(internal):
                internal[key] = self._suggest(trial, spec)
        self._pending[parameter_id] = trial
        return deformat_parameters(internal, self.specs)

    @staticmethod
    def _suggest(trial: Trial, spec: ParamSpec) -> Any:
        if spec.type == "choice":
            return trial.suggest_categorical(spec.path, list(range(spec.size)))
        if spec.type == "randint":
            return trial.suggest_int(spec.path, int(spec.low), int(spec.high) - 1)
        return trial.suggest_float(spec.path, 0.0, 1.0)

    def _observe(self, parameter_id: int, parameters: dict[str, Any], loss: float) -> None:
        trial = self._pending.pop(parameter_id, None)
        if trial is None:  # e.g. generated before a search-space update
            self._import(parameters, loss)
            return
        assert self.study is not None
        self.study.tell(trial, loss)
        self._finished.append((parameters, loss))

    def _end(self, parameter_id: int, success: bool) -> None:
        trial = self._pending.pop(parameter_id, None)
        if trial is not None and self.study is not None:
            self.study.tell(trial, state=TrialState.FAIL)

    def _import(self, parameters: dict[str, Any], loss: float) -> bool:
        if self._add_finished(parameters, loss):
            self._finished.append((parameters, loss))
            return True
        return False

    def _add_finished(self, parameters: dict[str, Any], loss: float) -> bool:
        if self.study is None:
            return False
        try:
            internal = format_parameters(parameters, self.specs)
        except ValueError as exc:
            _logger.warning("skipping a finished trial that does not fit the search space: %s", exc)
            return False
        specs = [self.specs[key] for key in internal]
        trial = optuna.trial.create_trial(
            params={s.path: internal[s.key] for s in specs},
            distributions={s.path: distribution(s) for s in specs}, value=loss)
        self.study.add_trial(trial)
        return True
