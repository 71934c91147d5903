"""``AlgorithmConfig``: how ``tuner``, ``assessor`` and ``advisor`` are named."""
from __future__ import annotations

import os

from .base import Canon, ConfigBase, join_path, resolve_path
from .fields import OptMapping, OptPath, OptStr

PLACEHOLDER_NAME = "_none_"


class AlgorithmConfig(ConfigBase):
    """A built-in algorithm by ``name`` (``'TPE'``, ``'Random'``, ...), or a custom one.

    Built-in: set ``name`` and optionally ``class_args``. Custom: set
    ``class_name`` (``'module.Class'``, dotted module allowed) and
    ``code_directory`` (the folder added to ``sys.path``; default the config's
    base folder); ``name`` stays unset. ``class_args`` are passed to the class.

    ``ExperimentConfig('local')`` creates placeholders (``name=None``, empty
    ``class_args``) so ``config.tuner.name = 'TPE'`` works; untouched
    placeholders are dropped by :meth:`ExperimentConfig.canonical`.
    """

    name: OptStr = None
    class_name: OptStr = None
    code_directory: OptPath = None
    class_args: OptMapping = None

    def is_placeholder(self) -> bool:
        """Whether nothing but the blank template is here (NNI's ``_none_``)."""
        return (self.name in (None, PLACEHOLDER_NAME) and self.class_name is None
                and self.code_directory is None and not self.class_args)

    def canonicalize(self, path: str, canon: Canon) -> None:
        """Resolve ``code_directory`` (custom algorithms default to the base folder)."""
        if self.class_name is not None and self.code_directory is None:
            self.code_directory = "."
        if self.code_directory is not None:
            self.code_directory = resolve_path(self.code_directory, canon.base_dir)

    def validate_canonical(self, path: str, canon: Canon) -> None:
        """NNI §1.6 rules: built-in needs ``name``; custom needs ``class_name`` + a code folder."""
        if self.class_name is None:
            if not self.name or self.name == PLACEHOLDER_NAME:
                canon.error(join_path(path, "name"),
                            "is required: a built-in algorithm name such as 'TPE', "
                            "or set className (and codeDirectory) for a custom one")
            if self.code_directory is not None:
                canon.error(join_path(path, "codeDirectory"),
                            "is only used with className (a custom algorithm); remove it or set className")
            return
        if self.name is not None:
            canon.error(join_path(path, "name"),
                        f"must not be set together with className (got name {self.name!r}); "
                        "use name for a built-in algorithm or className for a custom one")
        module, _, cls = self.class_name.rpartition(".")
        if not module or not cls or not all(part.isidentifier() for part in self.class_name.split(".")):
            canon.error(join_path(path, "className"),
                        f"must be 'module.ClassName' (dotted module allowed), got {self.class_name!r}")
        if self.code_directory is not None and not os.path.isdir(self.code_directory):
            canon.error(join_path(path, "codeDirectory"),
                        f"must be an existing directory, got {self.code_directory!r}")
