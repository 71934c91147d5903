"""``nni.recoverable``: the checkpoint hooks shared by tuners and assessors (stdlib only)."""
import os


class Recoverable:
    """Base of ``Tuner`` and ``Assessor``: checkpoint hooks that do nothing by default."""

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
