"""``nni.recoverable``: the checkpoint hooks shared by tuners, assessors and advisors (stdlib only)."""
import json
import os

__all__ = ["Recoverable"]


class Recoverable:
    """Base of ``Tuner``, ``Assessor`` and ``MsgDispatcherBase``: checkpoint and resume helpers."""

    def __init__(self):
        self.recovered_max_param_id = -1
        self.recovered_trial_params = {}

    def load_checkpoint(self):
        """Restore state from :meth:`get_checkpoint_path`; a no-op unless overridden."""

    def save_checkpoint(self):
        """Save state under :meth:`get_checkpoint_path`; a no-op unless overridden."""

    def get_checkpoint_path(self):
        """``$NNI_CHECKPOINT_DIRECTORY`` when it names a directory, else ``None``."""
        path = os.environ.get("NNI_CHECKPOINT_DIRECTORY")
        if path and os.path.isdir(path):
            return path
        return None

    def recover_parameter_id(self, data):
        """Remember the parameters of resumed trials (packed records); return the largest int id."""
        largest = 0
        for trial in data if isinstance(data, list) else [data]:
            if isinstance(trial, str):
                trial = json.loads(trial)
            if not isinstance(trial.get("parameter_id"), int):
                continue
            self.recovered_trial_params[trial["parameter_id"]] = trial["parameters"]
            largest = max(largest, trial["parameter_id"])
        self.recovered_max_param_id = largest
        return largest

    def is_created_in_previous_exp(self, param_id):
        """Whether ``param_id`` belongs to a trial of an earlier run (only int ids can)."""
        if not isinstance(param_id, int) or isinstance(param_id, bool):
            return False
        return param_id <= self.recovered_max_param_id

    def get_previous_param(self, param_id):
        """The parameters of a resumed trial."""
        return self.recovered_trial_params[param_id]
