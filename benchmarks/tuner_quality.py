"""Tuner quality and suggestion latency, through the manager's in-process contract.

Prints two tables (never asserts):

1. Median (over seeds) of the best value found after 50 and 100 trials, for
   our Random, TPE, Anneal and Evolution on Branin (2-d), Hartmann6 (6-d) and
   a nested/conditional space, next to Optuna's ``TPESampler`` driven
   directly (default arguments, the same seeds 0..N-1 as ours). All problems
   are minimized; lower is better. ``TPE-nni`` is our TPE with NNI's own
   ``tpe_args`` defaults (``n_startup_jobs=20``, ``gamma=0.25``), shown
   because our defaults differ from NNI's there (see ``tpe_tuner``).
   The built-ins added for NNI's Metis, DNGO, PBT and TPE_legacy (and GP when
   ``nni-remote[gp]`` is installed) are in the same table; ``n/a`` where an
   algorithm does not take the space (Metis and DNGO: no nested choices).
2. Multi-fidelity: BOHB against Hyperband on the same budget (R = 27,
   eta = 3, brackets run one after another, four full Hyperband iterations =
   1,692 budget units per run). A trial at budget b sees the objective plus a
   distortion that shrinks as b grows and vanishes at b = 27. Reported: the
   true objective of the incumbent (the best configuration at the highest
   budget evaluated so far), median over seeds, after 1/4, 1/2 and all of
   the budget.
3. What ``prefetchTrials`` costs: each slot holds its next trial, so with C
   slots the tuner suggests while 2·C results are outstanding instead of C.
   Simulated with C = 4 (the oldest outstanding trial finishes first):
   median best after 100 trials with C and with 2·C outstanding.
4. Milliseconds per ``generate_parameters`` (plus the result that follows)
   once 100 / 1,000 / 5,000 trials have finished (history given with
   ``import_data``; Evolution, which ignores imports, is driven instead).

    python benchmarks/tuner_quality.py            # full: 10 seeds, 100 trials
    python benchmarks/tuner_quality.py --quick    # small: 2 seeds, 20/40 trials
"""
from __future__ import annotations

import argparse
import importlib.util
import math
import statistics
import time
import warnings
from typing import Any, Callable

import numpy as np
import optuna

from nni_remote.errors import SearchSpaceError
from nni_remote.tuning import NotReady, create_tuner

optuna.logging.set_verbosity(optuna.logging.WARNING)
Objective = Callable[[dict[str, Any]], float]

# --- problems: (search space, objective on our params, optuna objective, known minimum) ---

BRANIN_SPACE = {"x1": {"_type": "uniform", "_value": [-5, 10]}, "x2": {"_type": "uniform", "_value": [0, 15]}}


def branin(p: dict[str, Any]) -> float:
    x1, x2 = p["x1"], p["x2"]
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


HARTMANN_SPACE = {f"x{i}": {"_type": "uniform", "_value": [0, 1]} for i in range(6)}
_H_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                 [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_H_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                        [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(p: dict[str, Any]) -> float:
    x = np.array([p[f"x{i}"] for i in range(6)])
    return float(-np.sum(_H_ALPHA * np.exp(-np.sum(_H_A * (x - _H_P) ** 2, axis=1))))


NESTED_SPACE = {
    "model": {"_type": "choice", "_value": [
        {"_name": "linear", "w": {"_type": "uniform", "_value": [-5, 5]}, "b": {"_type": "uniform", "_value": [-5, 5]}},
        {"_name": "quad", "x": {"_type": "uniform", "_value": [-3, 3]},
         "y": {"_type": "loguniform", "_value": [1e-3, 10]}},
        {"_name": "const"}]},
    "scale": {"_type": "quniform", "_value": [0, 2, 0.25]},
}


def nested(p: dict[str, Any]) -> float:
    m, penalty = p["model"], abs(p["scale"] - 0.75)
    if m["_name"] == "linear":
        return (m["w"] - 1) ** 2 + (m["b"] + 2) ** 2 + 1 + penalty
    if m["_name"] == "quad":
        return (m["x"] - 0.5) ** 2 + (math.log10(m["y"]) + 1) ** 2 + penalty
    return 2.0 + penalty


def _optuna_params(trial: optuna.Trial, space: dict[str, Any]) -> dict[str, Any]:
    """Define-by-run translation of the benchmark spaces for Optuna's own TPE."""
    out: dict[str, Any] = {}
    for name, spec in space.items():
        t, v = spec["_type"], spec["_value"]
        if t == "uniform":
            out[name] = trial.suggest_float(name, v[0], v[1])
        elif t == "loguniform":
            out[name] = trial.suggest_float(name, v[0], v[1], log=True)
        elif t == "quniform":
            out[name] = trial.suggest_float(name, v[0], v[1], step=v[2])
        else:  # nested choice
            label = trial.suggest_categorical(name, [o["_name"] for o in v])
            option = next(o for o in v if o["_name"] == label)
            sub = _optuna_params(trial, {k: s for k, s in option.items() if k != "_name"})
            out[name] = {"_name": label, **{k: val for k, val in sub.items()}}
    return out


PROBLEMS: dict[str, tuple[dict[str, Any], Objective, float]] = {
    "Branin": (BRANIN_SPACE, branin, 0.397887),
    "Hartmann6": (HARTMANN_SPACE, hartmann6, -3.32237),
    "Nested": (NESTED_SPACE, nested, 0.0),
}
OURS = ["Random", "TPE", "Anneal", "Evolution"]
NEW = ["TPE_legacy", "Metis", "DNGO", "PBT"] + (["GP"] if importlib.util.find_spec("torch") else [])
#: Column label -> (tuner name, extra classArgs).
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    **{name: (name, {}) for name in OURS},
    "TPE-nni": ("TPE", {"tpe_args": {"n_startup_jobs": 20, "gamma": 0.25}}),
    **{name: (name, {}) for name in NEW},
}


def run_ours(label: str, space: dict[str, Any], f: Objective, trials: int, seed: int) -> list[float]:
    algo, extra = VARIANTS[label]
    tuner = create_tuner({"name": algo, "classArgs": {"seed": seed, "optimize_mode": "minimize", **extra}})
    tuner.update_search_space(space)
    values = []
    for pid in range(trials):
        params = tuner.generate_parameters(pid)
        value = f(params)
        values.append(value)
        tuner.receive_trial_result(pid, params, value, customized=False, trial_job_id=f"t{pid}")
        tuner.trial_end(pid, True, trial_job_id=f"t{pid}")
    return values


def run_optuna(space: dict[str, Any], f: Objective, trials: int, seed: int) -> list[float]:
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(lambda trial: f(_optuna_params(trial, space)), n_trials=trials)
    return [t.value for t in study.trials]


def quality(seeds: int, checkpoints: tuple[int, int]) -> None:
    print(f"\nBest value found (median over {seeds} seeds; minimize; lower is better)")
    labels = list(VARIANTS) + ["OptunaTPE"]
    print(f"{'algorithm':<11} " + " ".join(f"{p + ' @' + str(n):>15}" for p in PROBLEMS for n in checkpoints))
    print(f"{'(optimum)':<11} " + " ".join(f"{o:>15.4f}" for _, _, o in PROBLEMS.values() for _ in checkpoints))
    for algo in labels:
        cells = []
        for space, f, _ in PROBLEMS.values():
            try:
                runs = [run_optuna(space, f, checkpoints[-1], s) if algo == "OptunaTPE"
                        else run_ours(algo, space, f, checkpoints[-1], s) for s in range(seeds)]
            except SearchSpaceError:
                cells += ["n/a"] * len(checkpoints)
                continue
            cells += [f"{statistics.median(min(r[:n]) for r in runs):.4f}" for n in checkpoints]
        print(f"{algo:<11} " + " ".join(f"{c:>15}" for c in cells), flush=True)


MAX_BUDGET, ETA, BUDGET = 27, 3, 1692


def distorted(f: Objective, space: dict[str, Any]) -> Callable[[dict[str, Any], float], float]:
    """``f`` at budget ``b``: plus a smooth distortion that is gone at the full budget."""
    names = sorted(space)
    lows = {k: space[k]["_value"][0] for k in names}
    spans = {k: space[k]["_value"][1] - space[k]["_value"][0] for k in names}

    def at_budget(params: dict[str, Any], budget: float) -> float:
        wiggle = sum(math.sin(7 * (params[k] - lows[k]) / spans[k] + i) for i, k in enumerate(names)) / len(names)
        return f(params) + 2.0 * (1 - budget / MAX_BUDGET) ** 2 * wiggle
    return at_budget


def run_budgeted(algo: str, space: dict[str, Any], f: Objective, seed: int) -> list[tuple[float, float]]:
    """(budget used so far, true value of the incumbent) after every trial."""
    args = ({"R": MAX_BUDGET, "eta": ETA, "exec_mode": "serial"} if algo == "Hyperband"
            else {"min_budget": 1, "max_budget": MAX_BUDGET, "eta": ETA})
    tuner = create_tuner({"name": algo, "classArgs": {"seed": seed, "optimize_mode": "minimize", **args}})
    tuner.update_search_space(space)
    noisy = distorted(f, space)
    used, trace, incumbent = 0.0, [], (-1.0, math.inf, math.inf)   # (budget, observed, true)
    pid = 0
    while used < BUDGET:
        try:
            params = tuner.generate_parameters(pid)
        except NotReady:
            raise RuntimeError(f"{algo} waits although nothing runs")
        budget = params.pop("TRIAL_BUDGET")
        observed = noisy(params, budget)
        tuner.receive_trial_result(pid, {**params, "TRIAL_BUDGET": budget}, observed)
        tuner.trial_end(pid, True)
        used += budget
        if (budget, -observed) > (incumbent[0], -incumbent[1]):
            incumbent = (budget, observed, f(params))
        trace.append((used, incumbent[2]))
        pid += 1
    return trace


def budgeted(seeds: int) -> None:
    fractions = (0.25, 0.5, 1.0)
    print(f"\nBOHB vs Hyperband, same budget ({BUDGET} units, R={MAX_BUDGET}, eta={ETA}): true value of the "
          f"incumbent, median over {seeds} seeds; lower is better")
    print(f"{'algorithm':<11} " + " ".join(f"{p + ' @' + str(int(q * 100)) + '%':>16}"
                                           for p in ("Branin", "Hartmann6") for q in fractions))
    for algo in ("Hyperband", "BOHB"):
        cells = []
        for problem in ("Branin", "Hartmann6"):
            space, f, _ = PROBLEMS[problem]
            traces = [run_budgeted(algo, space, f, s) for s in range(seeds)]
            for q in fractions:
                cells.append(statistics.median(next(v for used, v in t if used >= q * BUDGET) for t in traces))
        print(f"{algo:<11} " + " ".join(f"{c:>16.4f}" for c in cells), flush=True)


def run_outstanding(label: str, space: dict[str, Any], f: Objective, trials: int, seed: int,
                    outstanding: int) -> list[float]:
    """Like :func:`run_ours`, but the tuner suggests while ``outstanding`` results are still due."""
    algo, extra = VARIANTS[label]
    tuner = create_tuner({"name": algo, "classArgs": {"seed": seed, "optimize_mode": "minimize", **extra}})
    tuner.update_search_space(space)
    pending: list[tuple[int, dict[str, Any]]] = []
    values: list[float] = []
    pid = 0
    while len(values) < trials:
        while len(pending) < outstanding and pid < trials:
            try:
                pending.append((pid, tuner.generate_parameters(pid)))
            except NotReady:
                break
            pid += 1
        done, params = pending.pop(0)
        value = f(params)
        values.append(value)
        tuner.receive_trial_result(done, params, value, customized=False, trial_job_id=f"t{done}")
        tuner.trial_end(done, True, trial_job_id=f"t{done}")
    return values


def prefetch_cost(seeds: int, trials: int, slots: int = 4) -> None:
    print(f"\nprefetchTrials: best after {trials} trials with {slots} slots, {slots} vs {2 * slots} results "
          f"outstanding when the tuner suggests (median over {seeds} seeds; lower is better)")
    print(f"{'algorithm':<11} " + " ".join(f"{p + ' ' + m:>22}" for p in ("Branin", "Hartmann6")
                                           for m in (f"{slots} due", f"{2 * slots} due (prefetch)")))
    for label in ("Random", "TPE", "Anneal", "Evolution", "Metis", "DNGO"):
        cells = []
        for problem in ("Branin", "Hartmann6"):
            space, f, _ = PROBLEMS[problem]
            for due in (slots, 2 * slots):
                runs = [run_outstanding(label, space, f, trials, s, due) for s in range(seeds)]
                cells.append(statistics.median(min(r) for r in runs))
        print(f"{label:<11} " + " ".join(f"{c:>22.4f}" for c in cells), flush=True)


def latency(sizes: tuple[int, ...], repeats: int = 5) -> None:
    print(f"\nSuggestion latency on Hartmann6, ms per generate_parameters + result (mean of {repeats})")
    print(f"{'tuner':<10} " + " ".join(f"{f'{n} done':>12}" for n in sizes))
    rng = np.random.default_rng(0)
    for algo in OURS + ["OptunaTPE"]:
        cells = []
        for n in sizes:
            history = [{f"x{i}": float(v) for i, v in enumerate(rng.random(6))} for _ in range(n)]
            if algo == "OptunaTPE":
                study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
                dists = {k: optuna.distributions.FloatDistribution(0, 1) for k in history[0]}
                study.add_trials([optuna.trial.create_trial(params=h, distributions=dists, value=hartmann6(h))
                                  for h in history])
                start = time.perf_counter()
                for _ in range(repeats):
                    trial = study.ask()
                    study.tell(trial, hartmann6(_optuna_params(trial, HARTMANN_SPACE)))
            else:
                tuner = create_tuner({"name": algo, "classArgs": {"seed": 0, "optimize_mode": "minimize"}})
                tuner.update_search_space(HARTMANN_SPACE)
                if algo == "Evolution":
                    run_ours_on(tuner, n)
                else:
                    tuner.import_data([{"parameter": h, "value": hartmann6(h)} for h in history])
                start = time.perf_counter()
                run_ours_on(tuner, repeats, start_id=n)
            cells.append((time.perf_counter() - start) / repeats * 1000)
        print(f"{algo:<10} " + " ".join(f"{c:>12.2f}" for c in cells))


def run_ours_on(tuner: Any, n: int, start_id: int = 0) -> None:
    for pid in range(start_id, start_id + n):
        params = tuner.generate_parameters(pid)
        tuner.receive_trial_result(pid, params, hartmann6(params))
        tuner.trial_end(pid, True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, 20/40 trials, latency at 100 and 1,000")
    parser.add_argument("--prefetch-only", action="store_true", help="only what prefetchTrials costs (10 seeds)")
    args = parser.parse_args()
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    started = time.perf_counter()
    if args.prefetch_only:
        prefetch_cost(10, 100)
    elif args.quick:
        quality(2, (20, 40))
        budgeted(3)
        prefetch_cost(2, 40)
        latency((100, 1000), repeats=3)
    else:
        quality(10, (50, 100))
        budgeted(20)
        prefetch_cost(10, 100)
        latency((100, 1000, 5000))
    print(f"\n(total {time.perf_counter() - started:.0f} s; optuna {optuna.__version__}, numpy {np.__version__})")


if __name__ == "__main__":
    main()
