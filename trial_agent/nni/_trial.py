"""The trial API of the shim: parameters in, metrics out, through files."""
import json
import os
import time

_params = None
_param_id = None
_intermediate_seq = 0


class NoMoreTrialError(Exception):
    """Raised by tuners when the search space is exhausted."""

    def __init__(self, ErrorInfo="Search space fully explored"):
        super().__init__(ErrorInfo)


def dump(obj):
    """Serialise a metric like NNI: JSON, NaN allowed, numpy scalars as numbers."""
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


def _platform():
    return os.environ.get("NNI_PLATFORM")


def get_next_parameter():
    """Return this trial's hyper-parameters (a dict); ``{}`` when run standalone."""
    global _params, _param_id
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
    return _params


get_next_parameters = get_next_parameter


def get_current_parameter(tag=None):
    if _params is None:
        return None
    return _params if tag is None else _params[tag]


def get_experiment_id():
    return os.environ.get("NNI_EXP_ID", "STANDALONE")


def get_trial_id():
    return os.environ.get("NNI_TRIAL_JOB_ID", "STANDALONE")


def get_sequence_id():
    return int(os.environ.get("NNI_TRIAL_SEQ_ID", 0))


def _emit(kind, sequence, metric):
    record = json.dumps({"parameter_id": _param_id, "trial_job_id": get_trial_id(), "type": kind,
                         "sequence": sequence, "value": dump(metric)})
    if not _platform() or _platform() == "unittest":
        print("[nni standalone] %s: %s" % (kind.lower(), record))
        return
    payload = (record + "\n").encode("utf-8")
    if len(payload) >= 1000000:
        raise ValueError("metric too large: %d bytes (limit 1000000)" % len(payload))
    directory = os.path.join(os.environ["NNI_SYS_DIR"], ".nni")
    os.makedirs(directory, exist_ok=True)
    fd = os.open(os.path.join(directory, "metrics"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"ME%06d" % len(payload) + payload)
    finally:
        os.close(fd)


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
