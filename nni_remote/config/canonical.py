"""NNI's canonicalisation pipeline (reference §1.2) and validation list (§1.10).

Both steps work on a deep copy and record problems in a :class:`Canon` instead
of raising, so one :class:`~nni_remote.errors.ConfigError` reports them all.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

import yaml

from .base import Canon, describe, resolve_path
from .units import parse_gpu_indices, parse_time

if TYPE_CHECKING:
    from .experiment import ExperimentConfig

LOG_LEVELS = ("fatal", "error", "warning", "info", "debug", "trace")
_ALGORITHMS = ("tuner", "assessor", "advisor")


def load_search_space(path: str) -> Any:
    """Parse a search-space file: JSON first, YAML as the fallback (as NNI)."""
    content = Path(path).read_text(encoding="utf-8")
    try:
        return json.loads(content)
    except ValueError:
        return yaml.safe_load(content)


def canonicalize(config: ExperimentConfig, canon: Canon) -> None:
    """Steps 1-8 of NNI's pipeline, in NNI's order, in place."""
    if config.log_level is None:
        config.log_level = "debug" if config.debug else "info"
    try:
        config.tuner_gpu_indices = parse_gpu_indices(config.tuner_gpu_indices)
    except ValueError as exc:
        canon.error("tunerGpuIndices", str(exc))

    for name in _ALGORITHMS:
        algorithm = getattr(config, name)
        if algorithm is not None and algorithm.is_placeholder():
            setattr(config, name, None)
    if config.advisor is not None:
        if config.tuner is not None:
            canon.error("advisor", "is deprecated and cannot be combined with tuner: set only tuner")
        else:
            config.tuner, config.advisor = config.advisor, None

    base = canon.base_dir
    for name in ("search_space_file", "trial_code_directory", "experiment_working_directory"):
        if getattr(config, name) is not None:
            setattr(config, name, resolve_path(getattr(config, name), base))
    for name in _ALGORITHMS:
        if getattr(config, name) is not None:
            getattr(config, name).canonicalize(name, canon)
    if config.training_service is not None:
        config.training_service.canonicalize("trainingService", config, canon)

    if config.search_space_file is not None:
        try:
            config.search_space = load_search_space(config.search_space_file)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0]
            canon.error("searchSpaceFile", f"cannot load search space file {config.search_space_file!r}: {reason}")


def _positive(value: Optional[int], path: str, canon: Canon) -> None:
    if value is not None and value <= 0:
        canon.error(path, f"must be an integer > 0, got {describe(value)}")


def check_duration(value: Any, path: str, canon: Canon, parse: Callable[[Any], float] = parse_time) -> None:
    """Record an error at ``path`` unless ``value`` is unset or a duration > 0 ('30m', 3600).

    ``parse`` reads the value (a platform may accept more forms, as Slurm's ``D-HH:MM:SS``).
    """
    if value is None:
        return
    try:
        seconds = parse(value)
    except ValueError as exc:
        canon.error(path, str(exc))
        return
    if seconds <= 0:
        canon.error(path, f"must be a duration > 0 (like '1h' or 3600), got {describe(value)}")


def validate(config: ExperimentConfig, canon: Canon) -> None:
    """NNI's validation list (§1.10) plus nni-remote's own checks."""
    if config.experiment_type != "hpo":
        canon.error("experimentType", f"must be 'hpo' (NAS experiments are not supported by nni-remote), "
                                      f"got {describe(config.experiment_type)}")
    if config.trial_concurrency is None:
        canon.error("trialConcurrency", "is required: how many trials run at once, an integer > 0")
    _positive(config.trial_concurrency, "trialConcurrency", canon)
    _positive(config.max_trial_number, "maxTrialNumber", canon)
    check_duration(config.max_experiment_duration, "maxExperimentDuration", canon)
    check_duration(config.max_trial_duration, "maxTrialDuration", canon)
    if config.trial_gpu_number is not None and config.trial_gpu_number < 0:
        canon.error("trialGpuNumber", f"must be an integer >= 0 (or unset for no GPU scheduling), "
                                      f"got {config.trial_gpu_number}")
    if config.log_level not in LOG_LEVELS:
        canon.error("logLevel", f"must be one of {', '.join(LOG_LEVELS)}, got {describe(config.log_level)}")

    if config.use_annotation:
        canon.error("useAnnotation", "NNI annotation is not supported (as in NNI 3.0's Python API); "
                                     "set useAnnotation to false and give searchSpace or searchSpaceFile")
    elif config.search_space is None and not canon.bad("searchSpaceFile"):
        canon.error("searchSpace", "is required: set searchSpace (inline) or searchSpaceFile (an empty space is {})")

    if config.tuner is None:
        if not canon.bad("advisor"):
            canon.error("tuner", "is required: e.g. tuner: {name: TPE, classArgs: {optimize_mode: maximize}}")
    for name in ("tuner", "assessor"):
        algorithm = getattr(config, name)
        if algorithm is not None:
            algorithm.validate_canonical(name, canon)

    if config.shared_storage is not None:
        canon.error("sharedStorage", "is not supported by nni-remote (code is uploaded over SSH); remove it")
    if config.training_service is None:
        from nni_remote.services.platforms import platform_names
        canon.error("trainingService", f"is required: a mapping with platform {' or '.join(platform_names())}")
    else:
        config.training_service.validate_canonical("trainingService", canon)
