"""Shared pieces of the benchmarks: the trivial trial, timing analysis, printing."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Optional

TRIVIAL_TRIAL = '''
import json, os, sys, time
t0 = time.time()
import nni
params = nni.get_next_parameter()
t_report = time.time()
nni.report_final_result({"default": params.get("x", 0), "t_report": t_report})
out = os.environ.get("NNI_OUTPUT_DIR") or os.environ.get("BENCH_OUT")
if out:
    with open(os.path.join(out, "bench.json"), "w") as f:
        json.dump({"t0": t0, "t_report": t_report, "t_end": time.time()}, f)
'''


def bench_dirs(prefix: str, trial: str) -> tuple[str, str]:
    """A temporary root (with its own HOME, so experiments stay out of the user's) and a code dir with trial.py."""
    root = tempfile.mkdtemp(prefix=prefix)
    os.environ["HOME"] = os.path.join(root, "home")
    os.makedirs(os.environ["HOME"])
    code = os.path.join(root, "code")
    os.makedirs(code)
    with open(os.path.join(code, "trial.py"), "w") as f:
        f.write(trial)
    return root, code


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def dispatch_gaps(spans: list[tuple[float, float]], concurrency: int) -> list[float]:
    """Slot free -> next trial started: each start after the first C is matched to the
    earliest unmatched end before it."""
    starts = sorted(s for s, _ in spans)[concurrency:]
    ends = sorted(e for _, e in spans)
    gaps, i = [], 0
    for start in starts:
        while i < len(ends) and ends[i] > start:
            i += 1
        if i < len(ends):
            gaps.append(start - ends[i])
            i += 1
    return gaps


def bare_loop(python: str, script: str, trials: int, concurrency: int, workdir: str) -> dict[str, Any]:
    """The floor: the same trial run C at a time with no runner at all."""
    os.makedirs(workdir, exist_ok=True)
    env_base = dict(os.environ)
    shim = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "trial_agent")
    env_base["PYTHONPATH"] = shim

    def one(i: int) -> float:
        out = os.path.join(workdir, str(i))
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "parameter.cfg"), "w") as f:
            json.dump({"parameter_id": i, "parameter_source": "algorithm", "parameters": {"x": 0.5},
                       "parameter_index": 0}, f)
        env = dict(env_base, NNI_PLATFORM="local", NNI_SYS_DIR=out, NNI_OUTPUT_DIR=out, NNI_TRIAL_JOB_ID=f"b{i}",
                   NNI_EXP_ID="bare")
        t = time.time()
        subprocess.run([python, script], env=env, check=True)
        return time.time() - t

    start = time.time()
    with ThreadPoolExecutor(concurrency) as pool:
        durations = list(pool.map(one, range(trials)))
    wall = time.time() - start
    spans = []
    for i in range(trials):   # the trivial trial's own first and last line, as in the runner's figures
        try:
            with open(os.path.join(workdir, str(i), "bench.json")) as f:
                b = json.load(f)
            spans.append((b["t0"], b["t_end"]))
        except (OSError, ValueError, KeyError):
            pass
    return {"wall": wall, "trial_s": statistics.mean(durations), "slot_gaps": dispatch_gaps(spans, concurrency)}


def report(title: str, rows: list[tuple[str, str]]) -> None:
    print(f"\n{title}")
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key.ljust(width)}  {value}")


def ms(x: float) -> str:
    return f"{x * 1000:.1f} ms"


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.05) -> Optional[Any]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None
