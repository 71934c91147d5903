"""``nni-remote``: nnictl-style verbs over the same REST client as ``Experiment``.

``base`` holds the group, the exit codes and what commands share; each other
module adds one family of verbs to it.
"""
from nni_remote.cli import algo, experiments, lifecycle, logs, trials  # noqa: F401  (they register the verbs)
from nni_remote.cli.base import CliError as CliError
from nni_remote.cli.base import main as main

__all__ = ["CliError", "main"]
