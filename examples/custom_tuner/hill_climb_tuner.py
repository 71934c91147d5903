"""A custom tuner, written exactly as for NNI: subclass ``nni.tuner.Tuner``.

nni-remote loads it from ``tuner.className`` + ``tuner.codeDirectory`` (see
``config.yml``). ``from nni.tuner import Tuner`` works whether or not the real
``nni`` package is installed on the head: without it, nni-remote lends the
trial agent's small ``nni`` shim while importing this file.

The algorithm is a stochastic hill climber over ``uniform`` and ``choice``
parameters: random points until ``warm_up`` results are in, then a mutation
of the best point so far, with a step that shrinks as results accumulate.
It also uses history handed over by ``import_data`` (``nnictl experiment
import``, or the replay when an experiment is resumed), so a resumed
experiment carries on from its best point instead of starting over.

``trace_file`` (optional) appends one JSON line per call the manager makes,
which is a handy way to watch the tuner protocol (the calls of NNI's ``Tuner`` class).
"""
import json
import math
import random

import nni
from nni.tuner import Tuner
from nni.utils import extract_scalar_reward

SUPPORTED = ("uniform", "choice")


class HillClimbTuner(Tuner):
    """Hill climbing from the best result so far; ``optimize_mode`` as in NNI's tuners."""

    def __init__(self, optimize_mode="maximize", seed=None, warm_up=4, max_trials=None, trace_file=None):
        if optimize_mode not in ("maximize", "minimize"):
            raise ValueError("optimize_mode must be 'maximize' or 'minimize', got %r" % (optimize_mode,))
        self.sign = 1.0 if optimize_mode == "maximize" else -1.0
        self.rng = random.Random(seed)
        self.warm_up = int(warm_up)
        self.max_trials = max_trials
        self.trace_file = trace_file
        self.space = {}
        self.results = []          # (parameters, reward with "higher is better")
        self.generated = 0

    # -- the Tuner interface -------------------------------------------------------
    def update_search_space(self, search_space):
        self._trace("update_search_space", search_space=search_space)
        for name, spec in search_space.items():
            if spec.get("_type") not in SUPPORTED:
                raise ValueError("HillClimbTuner supports %s; %r is %r" % (SUPPORTED, name, spec.get("_type")))
        self.space = search_space

    def generate_parameters(self, parameter_id, **kwargs):
        if self.max_trials is not None and self.generated >= self.max_trials:
            raise nni.NoMoreTrialError("HillClimbTuner gave its max_trials=%d parameter sets" % self.max_trials)
        self.generated += 1
        if len(self.results) < self.warm_up:
            params = {name: self._random(spec) for name, spec in self.space.items()}
        else:
            best = max(self.results, key=lambda r: r[1])[0]
            step = 0.5 / math.sqrt(len(self.results))
            params = {name: self._mutate(spec, best.get(name), step) for name, spec in self.space.items()}
        self._trace("generate_parameters", parameter_id=parameter_id, parameters=params)
        return params

    def receive_trial_result(self, parameter_id, parameters, value, **kwargs):
        reward = extract_scalar_reward(value)
        self._trace("receive_trial_result", parameter_id=parameter_id, parameters=parameters, value=value)
        self.results.append((parameters, self.sign * float(reward)))

    def trial_end(self, parameter_id, success, **kwargs):
        self._trace("trial_end", parameter_id=parameter_id, success=success)

    def import_data(self, data):
        self._trace("import_data", data=data)
        for entry in data:
            value = entry["value"]
            reward = value.get("default") if isinstance(value, dict) else value
            if isinstance(reward, (int, float)) and math.isfinite(reward):
                self.results.append((entry["parameter"], self.sign * float(reward)))

    # -- helpers -------------------------------------------------------------------
    def _random(self, spec):
        if spec["_type"] == "choice":
            return self.rng.choice(spec["_value"])
        low, high = spec["_value"]
        return self.rng.uniform(low, high)

    def _mutate(self, spec, value, step):
        if value is None:
            return self._random(spec)
        if spec["_type"] == "choice":
            return value if self.rng.random() > step else self.rng.choice(spec["_value"])
        low, high = spec["_value"]
        return min(high, max(low, value + self.rng.gauss(0.0, step * (high - low))))

    def _trace(self, call, **fields):
        if self.trace_file:
            with open(self.trace_file, "a") as f:
                f.write(json.dumps(dict(call=call, **fields)) + "\n")
