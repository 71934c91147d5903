"""Built-in tuners, one per module (NNI-REFERENCE §5.5).

The Optuna-backed ones (TPE, CMA-ES, GP) import Optuna; import them from
their modules (or through :func:`nni_remote.tuning.create_tuner`) when needed.
"""
from .anneal_tuner import AnnealTuner as AnnealTuner
from .batch_tuner import BatchTuner as BatchTuner
from .evolution_tuner import EvolutionTuner as EvolutionTuner
from .gridsearch_tuner import GridSearchTuner as GridSearchTuner
from .hyperband_tuner import TRIAL_BUDGET as TRIAL_BUDGET
from .hyperband_tuner import HyperbandTuner as HyperbandTuner
from .random_tuner import RandomTuner as RandomTuner

__all__ = ["AnnealTuner", "BatchTuner", "EvolutionTuner", "GridSearchTuner", "HyperbandTuner",
           "RandomTuner", "TRIAL_BUDGET"]
