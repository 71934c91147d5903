"""A small, fast ``nni`` for trials on machines without the real package.

The agent puts this package on the trial's PYTHONPATH. If the real ``nni``
is installed for the trial's Python, this module hands over to it at import
time, so unmodified trial code always gets the real library when it exists.
Otherwise it implements the trial API (NNI-REFERENCE §4.3–4.4): parameters from
``$NNI_SYS_DIR/parameter.cfg``, metrics appended to ``$NNI_SYS_DIR/.nni/metrics``.
"""
import sys as _sys


def _real_nni_spec():
    import importlib.machinery
    import os
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = [p for p in _sys.path if os.path.abspath(p or ".") != here]
    try:
        return importlib.machinery.PathFinder.find_spec("nni", paths)
    except (ImportError, ValueError):
        return None


def _hand_over():
    import os
    if os.environ.get("NNI_REMOTE_FORCE_SHIM"):
        return False
    spec = _real_nni_spec()
    if spec is None or spec.loader is None:
        return False
    import importlib.util
    module = importlib.util.module_from_spec(spec)
    _sys.modules["nni"] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        _sys.modules["nni"] = _sys.modules[__name__] if __name__ in _sys.modules else module
        raise
    return True


if __name__ == "nni" and _hand_over():
    pass  # ``import nni`` now yields the real package from sys.modules
else:
    from nni._trial import (  # noqa: F401
        NoMoreTrialError, dump, get_current_parameter, get_experiment_id, get_next_parameter,
        get_next_parameters, get_sequence_id, get_trial_id, load, report_final_result,
        report_intermediate_result)
    from nni import parameter_expressions, runtime, trial, typehint, utils  # noqa: F401
    from nni.trace_utils import trace  # noqa: F401
    from nni.utils import ClassArgsValidator  # noqa: F401

    __version__ = "nni-remote-shim"
