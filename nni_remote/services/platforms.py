"""The registry of platforms: a platform name → (training-service class, config class).

A platform joins by one module that defines its config class (a
:class:`~nni_remote.config.TrainingServiceConfig` subclass whose ``platform``
field is ``Literal["<name>"]``) and its :class:`~nni_remote.services.base.TrainingService`
subclass, and calls :func:`register_platform` at import. Nothing under
``manager/``, ``server/`` or ``experiment.py`` names a platform: they look it up here.

Where platform modules come from, in this order, the first time a name is looked up:

1. the built-in modules listed in :data:`BUILTIN_MODULES`;
2. modules named in the environment variable ``NNI_REMOTE_PLATFORMS``
   (comma-separated; the manager process inherits it from the user's process);
3. the ``nni_remote.platforms`` entry-point group of installed distributions;
4. for an unknown name ``x``, the module ``nni_remote.services.x`` if it exists.

Thread-safe; registering the same name twice with other classes is an error.
"""
from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from nni_remote.errors import UnknownPlatform

if TYPE_CHECKING:
    from nni_remote.config.training_service import TrainingServiceConfig
    from nni_remote.services.base import TrainingService

log = logging.getLogger("nni_remote.platforms")

BUILTIN_MODULES = ("nni_remote.services.local", "nni_remote.services.remote", "nni_remote.services.slurm")
ENV_VAR = "NNI_REMOTE_PLATFORMS"
ENTRY_POINT_GROUP = "nni_remote.platforms"
NNI_ONLY = ("openpai", "pai", "aml", "dlc", "kubeflow", "frameworkcontroller", "adl", "hybrid")


@dataclass(frozen=True)
class Platform:
    """One registered platform."""

    name: str
    service_class: type["TrainingService"]
    config_class: type["TrainingServiceConfig"]


_platforms: dict[str, Platform] = {}
_lock = threading.RLock()
_loaded = False


def register_platform(service_class: type["TrainingService"],
                      config_class: Optional[type["TrainingServiceConfig"]] = None) -> Platform:
    """Make ``service_class.platform`` a platform; its config class is ``config_class`` or
    ``service_class.config_class``. Returns the entry (idempotent for the same classes)."""
    config = config_class if config_class is not None else service_class.config_class
    name = service_class.platform
    if not name or config is None:
        raise TypeError(f"{service_class.__name__} needs a platform name and a config class to be registered")
    entry = Platform(name, service_class, config)
    with _lock:
        old = _platforms.get(name)
        if old is not None and old != entry:
            raise ValueError(f"platform {name!r} is already registered by {old.service_class.__module__}")
        _platforms[name] = entry
    return entry


def unregister_platform(name: str) -> None:
    """Forget a platform (tests that add one for a while)."""
    with _lock:
        _platforms.pop(name, None)


def _import(module: str) -> None:
    try:
        importlib.import_module(module)
    except Exception as exc:  # one broken plugin must not hide the others
        log.warning("platform module %s could not be imported: %r", module, exc)


def _load() -> None:
    global _loaded
    with _lock:
        if _loaded:
            return
        _loaded = True
        for module in BUILTIN_MODULES:
            importlib.import_module(module)
        for module in filter(None, (m.strip() for m in os.environ.get(ENV_VAR, "").split(","))):
            _import(module)
        try:
            from importlib.metadata import entry_points
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                _import(ep.value.split(":")[0])
        except Exception as exc:  # metadata of a broken distribution
            log.warning("platform entry points could not be read: %r", exc)


def platform_names() -> tuple[str, ...]:
    """The names of every known platform, sorted."""
    _load()
    with _lock:
        return tuple(sorted(_platforms))


def get_platform(name: str) -> Platform:
    """The platform called ``name`` (case-insensitive); :class:`UnknownPlatform` says what exists."""
    _load()
    key = name.lower()
    with _lock:
        found = _platforms.get(key)
    if found is None and key.isidentifier() and not key.startswith("_"):
        module = f"nni_remote.services.{key}"
        if importlib.util.find_spec(module) is not None:
            _import(module)
            with _lock:
                found = _platforms.get(key)
    if found is None:
        supported = "supported: " + ", ".join(platform_names())
        known = "an NNI platform that is" if key in NNI_ONLY else "a platform"
        raise UnknownPlatform([("trainingService.platform", f"{name!r} is {known} not supported by nni-remote; "
                                                             f"{supported}")])
    return found
