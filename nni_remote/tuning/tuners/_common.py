"""Plumbing shared by the built-in tuners: argument checks and result handling.

Built-ins reason in *losses* (lower is better): :class:`BuiltinTuner` turns each
decoded metric into one (negated for ``maximize``), drops garbage and NaN/inf
with a warning, ignores customized trials unless accepted, and forwards to
``_observe`` / ``_import`` / ``_end``, which subclasses override.
"""
from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np

from ...errors import SearchSpaceError, TunerError
from ..base import Tuner, scalar_or_none
from ..search_space import ALL_TYPES, Key, ParamSpec, format_parameters, format_search_space, validate_search_space

__all__ = ["BuiltinTuner", "ModelTuner", "check_choice", "check_number", "check_seed", "derive_seed"]

_logger = logging.getLogger("nni_remote.tuning")


def check_choice(name: str, value: Any, options: tuple[Any, ...]) -> Any:
    """``value`` if it is one of ``options`` (strings compared case-insensitively)."""
    for option in options:
        if value == option or (isinstance(value, str) and isinstance(option, str)
                               and value.lower() == option.lower()):
            return option
    raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}; got {value!r}")


def check_number(name: str, value: Any, minimum: float | None = None, integer: bool = False,
                 exclusive: bool = False) -> Any:
    """``value`` if it is a number (an int when ``integer``) at or above ``minimum``."""
    kinds = (int,) if integer else (int, float)
    if not isinstance(value, kinds) or isinstance(value, bool):
        raise ValueError(f"{name} must be {'an integer' if integer else 'a number'}; got {value!r}")
    if minimum is not None and (value <= minimum if exclusive else value < minimum):
        raise ValueError(f"{name} must be {'>' if exclusive else '>='} {minimum}; got {value!r}")
    return value


def check_seed(seed: Any) -> int | None:
    """``None`` or a non-negative int."""
    return None if seed is None else check_number("seed", seed, 0, integer=True)


def derive_seed(seed: int, salt: int) -> int:
    """A seed made from ``seed`` and ``salt``: reproducible, and unrelated to ``seed`` itself.

    A seeded tuner that is given history (a resumed experiment) reseeds with
    the number of trials it knows, so it does not replay its first draws.
    """
    return int(np.random.SeedSequence([seed, salt]).generate_state(1)[0])


class BuiltinTuner(Tuner):
    """Base of the built-in tuners (see the module docstring)."""

    support_types: tuple[str, ...] = ALL_TYPES
    allow_nested: bool = True

    def __init__(self, optimize_mode: str = "maximize") -> None:
        self.optimize_mode = check_choice("optimize_mode", optimize_mode, ("maximize", "minimize"))
        self.specs: dict[Key, ParamSpec] = {}
        self.search_space: dict[str, Any] | None = None

    def update_search_space(self, search_space: dict[str, Any]) -> None:
        validate_search_space(search_space, self.support_types, self.allow_nested)
        self.search_space = search_space
        self.specs = format_search_space(search_space)
        self._space_changed()

    def receive_trial_result(self, parameter_id: int, parameters: dict[str, Any], value: Any,
                             **kwargs: Any) -> None:
        if kwargs.get("customized") and not self._accept_customized:
            _logger.info("ignoring result of customized trial %s", kwargs.get("trial_job_id"))
            return
        loss = self.loss(value)
        if loss is not None:
            self._observe(parameter_id, parameters, loss)

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        self._end(parameter_id, success)

    def import_data(self, data: list[dict[str, Any]]) -> None:
        count = 0
        for entry in data or []:
            params = entry.get("parameter") if isinstance(entry, dict) else None
            value = entry.get("value") if isinstance(entry, dict) else None
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except ValueError:
                    pass
            loss = self.loss(value, "imported value")
            if isinstance(params, dict) and loss is not None:
                count += bool(self._import(params, loss))
        _logger.info("%s imported %d of %d trials", type(self).__name__, count, len(data or []))
        if count:
            self._imported(count)

    def loss(self, value: Any, what: str = "trial result") -> float | None:
        """The loss (lower is better) for a decoded metric, or ``None`` for garbage."""
        reward = scalar_or_none(value, what)
        if reward is None:
            return None
        return reward if self.optimize_mode == "minimize" else -reward

    def _require_space(self) -> None:
        if self.search_space is None:
            raise TunerError("generate_parameters called before update_search_space")

    # --- hooks for subclasses ---
    def _space_changed(self) -> None:
        """The search space was (re)set; ``self.specs`` is formatted."""

    def _observe(self, parameter_id: int, parameters: dict[str, Any], loss: float) -> None:
        """A finite final result of one of our trials."""

    def _import(self, parameters: dict[str, Any], loss: float) -> bool:
        """A finished trial from history; return whether it was used."""
        return False

    def _end(self, parameter_id: int, success: bool) -> None:
        """A trial ended."""

    def _imported(self, count: int) -> None:
        """``count`` finished trials were just imported (after the ``_import`` calls)."""


class ModelTuner(BuiltinTuner):
    """Base of the model-based built-ins of NNI's numeric kind (Metis, DNGO).

    Every finished trial, generated or imported, becomes a point
    ``self._encode(internal)`` with its loss in ``self.xs`` / ``self.losses``.
    Choice options must be numbers, as NNI requires for these algorithms.
    """

    allow_nested = False
    algorithm = "this tuner"

    def __init__(self, optimize_mode: str = "maximize") -> None:
        super().__init__(optimize_mode)
        self.xs: list[np.ndarray] = []
        self.losses: list[float] = []

    def _space_changed(self) -> None:
        bad = [s.path for s in self.specs.values() if s.type == "choice"
               and not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in s.values)]
        if bad:
            raise SearchSpaceError([(p, f"{self.algorithm} needs numeric choice options (as NNI's "
                                        f"{self.algorithm}); use another tuner, or give numbers") for p in bad])
        self.xs, self.losses = [], []

    def _encode(self, internal: dict[Key, Any]) -> np.ndarray:
        """The model's input for one parameter set (internal values)."""
        raise NotImplementedError

    def _observe(self, parameter_id: int, parameters: dict[str, Any], loss: float) -> None:
        self._import(parameters, loss)

    def _import(self, parameters: dict[str, Any], loss: float) -> bool:
        try:
            internal = format_parameters(parameters, self.specs)
        except ValueError:
            return False
        self.xs.append(self._encode(internal))
        self.losses.append(loss)
        return True
