"""``nni.trial``: the same functions as the top-level package."""
from nni._trial import (  # noqa: F401
    get_current_parameter, get_experiment_id, get_next_parameter, get_next_parameters, get_sequence_id, get_trial_id,
    report_final_result, report_intermediate_result)
