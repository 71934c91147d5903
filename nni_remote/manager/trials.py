"""A trial as the manager tracks it, and its NNI REST shapes (NNI-REFERENCE §3.3)."""
from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass, field
from typing import Any, Optional

from nni_remote.common.metrics import decode_data as decode_metric
from nni_remote.common.metrics import scalar as scalar
from nni_remote.common.statuses import TRIAL_ACTIVE as ACTIVE
from nni_remote.common.statuses import TRIAL_TERMINAL as TERMINAL

__all__ = ["ACTIVE", "TERMINAL", "Trial", "decode_metric", "kill_message", "kill_status", "new_trial_id",
           "pack_parameters", "scalar"]
_ALNUM = string.ascii_letters + string.digits
_KILLS = {  # why the manager killed a trial -> (the status it ends with, its message)
    "user": ("USER_CANCELED", "killed by user"),
    "shutdown": ("USER_CANCELED", "experiment stopped"),
    "early_stop": ("EARLY_STOPPED", "early-stopped by the assessor"),
    "advisor": ("EARLY_STOPPED", "early-stopped by the advisor"),
    "max_trial_duration": ("EARLY_STOPPED", "ran longer than maxTrialDuration"),
}


def kill_status(reason: str) -> str:
    """The status a trial killed for ``reason`` ends with."""
    return _KILLS.get(reason, ("USER_CANCELED", ""))[0]


def kill_message(reason: str) -> str:
    return _KILLS.get(reason, ("", reason))[1]


def new_trial_id(taken: Any = ()) -> str:
    """NNI's id format: 5 chars, a letter then letters/digits, crypto-random."""
    while True:
        tid = secrets.choice(string.ascii_letters) + "".join(secrets.choice(_ALNUM) for _ in range(4))
        if tid not in taken:
            return tid


def pack_parameters(parameter_id: Any, parameters: Any, source: str) -> str:
    """The packed parameter record (§5.3) as the JSON text a trial reads."""
    return json.dumps({"parameter_id": parameter_id, "parameter_source": source, "parameters": parameters,
                       "parameter_index": 0})


@dataclass
class Trial:
    """One trial's current state (mirrors the ``Trial`` table)."""

    id: str
    seq: int
    parameter: str
    parameter_id: Any
    source: str
    submit_time: int
    status: str = "WAITING"
    start_time: Optional[int] = None
    end_time: Optional[int] = None
    machine: Optional[str] = None
    gpus: Optional[list[int]] = None
    message: str = ""
    exit_code: Optional[int] = None
    kill_reason: Optional[str] = None
    attempt: int = 0
    log_path: str = ""
    pid: Optional[int] = None
    final: Optional[dict[str, Any]] = None   # the FINAL record as stored (NNI's encoded data)
    final_value: Any = None                  # its value, decoded once where it arrived
    sent: bool = False                       # start command queued to its machine
    held_for: Optional[str] = None           # resumed: wait until this machine synced
    after: Optional[str] = None              # prefetchTrials: queued on its machine behind this run ("": unknown)
    spare: Optional[dict[str, Any]] = None   # a second attempt racing this one (its machine is unreachable)
    history: dict[int, Any] = field(default_factory=dict)   # intermediate results, kept while it is active
    intermediate_count: int = 0              # intermediate results stored (also once history is dropped)

    @property
    def parameters(self) -> Any:
        return json.loads(self.parameter).get("parameters")

    def row(self) -> dict[str, Any]:
        return {"trialJobId": self.id, "sequenceId": self.seq, "status": self.status,
                "parameter": self.parameter, "parameterId": None if self.parameter_id is None
                else str(self.parameter_id), "parameterSource": self.source, "submitTime": self.submit_time,
                "startTime": self.start_time, "endTime": self.end_time, "machine": self.machine,
                "gpus": None if self.gpus is None else json.dumps(self.gpus), "message": self.message,
                "exitCode": self.exit_code, "killReason": self.kill_reason, "attempt": self.attempt,
                "logPath": self.log_path, "pid": self.pid}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Trial":
        record = json.loads(row["parameter"])
        return cls(id=row["trialJobId"], seq=row["sequenceId"], parameter=row["parameter"],
                   parameter_id=record.get("parameter_id"), source=row["parameterSource"],
                   submit_time=row["submitTime"], status=row["status"], start_time=row["startTime"],
                   end_time=row["endTime"], machine=row["machine"],
                   gpus=None if row["gpus"] is None else json.loads(row["gpus"]), message=row["message"] or "",
                   exit_code=row["exitCode"], kill_reason=row["killReason"], attempt=row["attempt"] or 0,
                   log_path=row["logPath"] or "", pid=row["pid"], sent=row["machine"] is not None)

    def job_info(self) -> dict[str, Any]:
        """NNI's TrialJobInfo: what ``GET /trial-jobs`` returns for this trial."""
        info: dict[str, Any] = {
            "trialJobId": self.id, "status": self.status, "hyperParameters": [self.parameter],
            "startTime": self.start_time or self.submit_time, "logPath": self.log_path,
            "sequenceId": self.seq, "envId": self.machine or "",   # NNI's key order (clients compare strings)
        }
        if self.end_time is not None:
            info["endTime"] = self.end_time
        if self.status == "SUCCEEDED" and self.final is not None:
            info["finalMetricData"] = [self.final]
        if self.status == "FAILED":
            info["stderrPath"] = self.log_path + "/trial.stderr"
        if self.message:
            info["message"] = self.message
        info["machine"] = self.machine
        info["attempt"] = self.attempt + 1
        info["gpus"] = self.gpus
        return info
