"""A one-line terminal progress bar for ``Experiment.run()`` and ``nni-remote create``."""
from __future__ import annotations

import sys
import time
from typing import Any, Optional, TextIO

from nni_remote.common.metrics import decode_data as decode_metric
from nni_remote.common.metrics import scalar


class ProgressBar:
    """``[#####.....] 12/20 trials  best 0.931 (AbCdE)  running 4  0:00:12``."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.started = time.time()
        self._last = 0.0

    @classmethod
    def for_terminal(cls, stream: Optional[TextIO] = None) -> Optional["ProgressBar"]:
        stream = stream or sys.stderr
        return cls(stream) if getattr(stream, "isatty", lambda: False)() else None

    def line(self, exp: Any) -> str:
        profile = exp.get_experiment_profile()
        jobs = exp._rest.get("trial-jobs")
        params = profile.get("params", {})
        budget = params.get("maxTrialNumber")
        done = sum(1 for j in jobs if j["status"] not in ("WAITING", "RUNNING"))
        running = sum(1 for j in jobs if j["status"] == "RUNNING")
        maximize = _maximize(params)
        best = None
        for job in jobs:
            for metric in job.get("finalMetricData") or []:
                value = scalar(decode_metric(metric["data"]))
                if value is not None and (best is None or (value > best[0]) == maximize and value != best[0]):
                    best = (value, job["trialJobId"])
        width = 24
        filled = int(width * done / budget) if budget else 0
        bar = "#" * filled + "." * (width - filled)
        total = f"/{budget}" if budget else ""
        elapsed = int(time.time() - self.started)
        best_text = f"best {best[0]:.6g} ({best[1]})" if best else "best -"
        return (f"[{bar}] {done}{total} trials  {best_text}  running {running}  "
                f"{elapsed // 3600}:{elapsed // 60 % 60:02d}:{elapsed % 60:02d}")

    def update(self, exp: Any, force: bool = False) -> None:
        if not force and time.time() - self._last < 0.5:
            return
        self._last = time.time()
        try:
            self.stream.write("\r" + self.line(exp) + "\x1b[K")
            self.stream.flush()
        except Exception:
            pass

    def close(self, exp: Any) -> None:
        self.update(exp, force=True)
        self.stream.write("\n")
        self.stream.flush()


def _maximize(params: dict[str, Any]) -> bool:
    tuner = params.get("tuner") or {}
    mode = (tuner.get("classArgs") or {}).get("optimize_mode")
    if mode is None:
        return (tuner.get("name") or "").lower() not in ("tpe", "anneal", "tpe_legacy")
    return str(mode).lower() == "maximize"
