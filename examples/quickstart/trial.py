"""A trial script exactly as NNI users write them: ``import nni``, get parameters, report."""
import math

import nni


def objective(x, y, activation):
    bonus = {"relu": 0.0, "tanh": 0.05, "sigmoid": 0.1}[activation]
    return math.exp(-((x - 0.3) ** 2 + (y - 2.0) ** 2)) - bonus


if __name__ == "__main__":
    params = nni.get_next_parameter()
    x, y, activation = params["x"], params["y"], params["activation"]
    for epoch in range(1, 4):
        nni.report_intermediate_result(objective(x, y, activation) * epoch / 3)
    nni.report_final_result(objective(x, y, activation))
