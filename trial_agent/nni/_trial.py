"""The trial API of the shim: parameters in, metrics out, through files."""
import json
import os
import time
from json.encoder import encode_basestring_ascii as _quote

_params = None
_param_id = None
_intermediate_seq = 0


class NoMoreTrialError(Exception):
    """Raised by tuners when the search space is exhausted."""

    def __init__(self, ErrorInfo="Search space fully explored"):
        super().__init__(ErrorInfo)


_SCALAR_TYPES = (float, int, str, bool, type(None))


def dump(obj):
    """Serialise a metric like NNI: JSON, NaN allowed, numpy scalars as numbers."""
    kind = type(obj)
    if kind is float or kind is int or (kind is dict and all(
            type(k) is str and type(v) in _SCALAR_TYPES for k, v in obj.items())):
        return json.dumps(obj)   # already plain: the common case, without a walk
    return json.dumps(_plain(obj), allow_nan=True)


def load(text):
    return json.loads(text)


def _plain(obj):
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    item = getattr(obj, "item", None)  # numpy scalars and 0-d arrays
    if callable(item):
        try:
            return _plain(item())
        except (TypeError, ValueError):
            pass
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        return _plain(tolist())
    return str(obj)


_env = {}   # NNI_PLATFORM, NNI_SYS_DIR and NNI_TRIAL_JOB_ID, read once by get_next_parameter (as NNI reads them once)


def _platform():
    return _env["NNI_PLATFORM"] if _env else os.environ.get("NNI_PLATFORM")


def get_next_parameter():
    """Return this trial's hyper-parameters (a dict); ``{}`` when run standalone."""
    global _params, _param_id
    _env.clear()
    if not _platform() or _platform() == "unittest":
        _params = {}
        return _params
    path = os.path.join(os.environ["NNI_SYS_DIR"], "parameter.cfg")
    deadline = time.time() + 600
    while not (os.path.exists(path) and os.path.getsize(path) > 0):
        if time.time() > deadline:
            return None
        time.sleep(0.05)
    with open(path, encoding="utf-8") as f:
        record = json.load(f)
    _params = record["parameters"]
    _param_id = record.get("parameter_id")
    _env.update((k, os.environ.get(k)) for k in ("NNI_PLATFORM", "NNI_SYS_DIR", "NNI_TRIAL_JOB_ID"))
    return _params


get_next_parameters = get_next_parameter


def get_current_parameter(tag=None):
    if _params is None:
        return None
    return _params if tag is None else _params[tag]


def get_experiment_id():
    return os.environ.get("NNI_EXP_ID", "STANDALONE")


def get_trial_id():
    trial_id = _env["NNI_TRIAL_JOB_ID"] if _env else os.environ.get("NNI_TRIAL_JOB_ID")
    return "STANDALONE" if trial_id is None else trial_id


def get_sequence_id():
    return int(os.environ.get("NNI_TRIAL_SEQ_ID", 0))


_sink = {"dir": None, "fd": None, "head": None, "head_key": None}   # the open metrics file, the record's head


def _record(kind, sequence, metric):
    """The record's JSON text, byte for byte what ``json.dumps`` of NNI's record dict gives."""
    key = (_param_id, get_trial_id())
    if _sink["head_key"] != key:
        _sink["head"], _sink["head_key"] = '{"parameter_id": %s, "trial_job_id": %s, "type": ' % (
            json.dumps(key[0]), json.dumps(key[1])), key
    return '%s%s, "sequence": %d, "value": %s}' % (_sink["head"], _quote(kind), sequence, _quote(dump(metric)))


def _metrics_fd(sys_dir):
    """The trial's metrics file, opened once (append mode) and kept open, as NNI's own ``nni`` keeps it."""
    if _sink["dir"] != sys_dir or _sink["fd"] is None:
        if _sink["fd"] is not None:
            _close_sink()
        directory = os.path.join(sys_dir, ".nni")
        os.makedirs(directory, exist_ok=True)
        _sink["fd"] = os.open(os.path.join(directory, "metrics"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        _sink["dir"] = sys_dir
    return _sink["fd"]


def _close_sink():
    try:
        os.close(_sink["fd"])
    except OSError:
        pass
    _sink["fd"] = _sink["dir"] = None


def _emit(kind, sequence, metric):
    platform = _platform()
    if not platform or platform == "unittest":
        record = json.dumps({"parameter_id": _param_id, "trial_job_id": get_trial_id(), "type": kind,
                             "sequence": sequence, "value": dump(metric)})
        print("[nni standalone] %s: %s" % (kind.lower(), record))
        return
    payload = (_record(kind, sequence, metric) + "\n").encode("utf-8")
    if len(payload) >= 1000000:
        raise ValueError("metric too large: %d bytes (limit 1000000)" % len(payload))
    frame = b"ME%06d" % len(payload) + payload
    try:
        os.write(_metrics_fd(_env.get("NNI_SYS_DIR") or os.environ["NNI_SYS_DIR"]), frame)
    except OSError:   # the descriptor was closed under us (e.g. by the trial): open it again, once
        _close_sink()
        os.write(_metrics_fd(_env.get("NNI_SYS_DIR") or os.environ["NNI_SYS_DIR"]), frame)


def _check_ready():
    if _params is None and _platform() and _platform() != "unittest":
        raise RuntimeError("nni.get_next_parameter() must be called before reporting results")


def report_intermediate_result(metric):
    """Report one intermediate result (a number, or a dict with a 'default' key)."""
    global _intermediate_seq
    _check_ready()
    _emit("PERIODICAL", _intermediate_seq, metric)
    _intermediate_seq += 1


def report_final_result(metric):
    """Report the final result (a number, or a dict with a 'default' key)."""
    _check_ready()
    _emit("FINAL", 0, metric)
