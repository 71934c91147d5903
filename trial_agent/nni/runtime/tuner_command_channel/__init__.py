"""``nni.runtime.tuner_command_channel``: the command names of the manager ⇄ advisor protocol."""
from enum import Enum

__all__ = ["CommandType"]


class CommandType(Enum):
    """Two-letter commands; ``in`` ones reach the advisor, ``out`` ones it sends with ``self.send``."""

    # in
    Initialize = "IN"
    RequestTrialJobs = "GE"
    ReportMetricData = "ME"
    UpdateSearchSpace = "SS"
    ImportData = "FD"
    AddCustomizedTrialJob = "AD"
    TrialEnd = "EN"
    Terminate = "TE"
    Ping = "PI"

    # out
    Initialized = "ID"
    NewTrialJob = "TR"
    SendTrialJobParameter = "SP"
    NoMoreTrialJobs = "NO"
    KillTrialJob = "KI"
    Error = "ER"
