"""NNI's ``NNI_CHECKPOINT_DIRECTORY`` for the algorithms, and whether trials can reach it.

NNI's manager starts its dispatcher with ``NNI_CHECKPOINT_DIRECTORY`` set to
``~/nni-experiments/<id>/checkpoint`` (``getCheckpointDir()``); NNI's PBT reads
it in its constructor as the default ``all_checkpoint_dir`` and hands every
trial ``load_checkpoint_dir``/``save_checkpoint_dir`` below it. Algorithms run
in the manager here, so :func:`dispatcher_environment` sets the variable while
they are constructed (ours, NNI's own classes and users' alike) to the
experiment's ``<exp_dir>/checkpoint``.

That folder is on the head. NNI hands the same head path to trials on remote
machines, where it does not exist (a trial creates an unrelated folder of that
name on its machine, or fails when it cannot): the members' checkpoints are
never shared. :func:`check_reach` refuses that case with what to do instead.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Any, Iterator, Optional

from ..errors import TunerError

__all__ = ["ENV", "check_reach", "checkpoint_user", "dispatcher_environment"]

ENV = "NNI_CHECKPOINT_DIRECTORY"
_env_lock = threading.Lock()   # managers hosted in one process (tests) construct algorithms one at a time


@contextmanager
def dispatcher_environment(checkpoint_dir: Optional[str]) -> Iterator[None]:
    """``NNI_CHECKPOINT_DIRECTORY=checkpoint_dir`` while the body runs (nothing when ``None``)."""
    if checkpoint_dir is None:
        yield
        return
    os.makedirs(checkpoint_dir, mode=0o700, exist_ok=True)   # NNI's manager makes it before the dispatcher starts
    with _env_lock:
        old = os.environ.get(ENV)
        os.environ[ENV] = checkpoint_dir
        try:
            yield
        finally:
            if old is None:
                os.environ.pop(ENV, None)
            else:
                os.environ[ENV] = old


def checkpoint_user(tuner: Any) -> Optional[str]:
    """The ``all_checkpoint_dir`` of a PBT-like tuner (ours, or NNI's wrapped in an adapter), else None."""
    for obj in (tuner, getattr(tuner, "inner", None)):
        folder = getattr(obj, "all_checkpoint_dir", None)
        if isinstance(folder, str):
            return folder
    return None


def check_reach(tuner: Any, checkpoint_dir: Optional[str], trials_see_head_files: bool) -> None:
    """``TunerError`` if ``tuner`` hands trials the head's ``checkpoint_dir`` and trials run elsewhere."""
    folder = checkpoint_user(tuner)
    if trials_see_head_files or checkpoint_dir is None or folder is None:
        return
    head = os.path.abspath(checkpoint_dir)
    if os.path.commonpath([os.path.abspath(folder), head]) == head:
        name = getattr(tuner, "label", None) or type(tuner).__name__
        raise TunerError(
            f"tuner {name}: all_checkpoint_dir is not set, and its default "
            f"({checkpoint_dir}, the experiment's folder on this machine) does not exist where the trials run: "
            "set tuner.classArgs.all_checkpoint_dir to a folder that every machine mounts at the same path "
            "(shared storage such as NFS) so that trials can load each other's checkpoints")
