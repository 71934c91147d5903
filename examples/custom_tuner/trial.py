"""An ordinary NNI trial: maximize a smooth function of x, y and the activation."""
import math

import nni


def objective(x, y, activation):
    bonus = {"relu": 0.1, "tanh": 0.0, "sigmoid": -0.1}[activation]
    return math.exp(-((x - 0.3) ** 2 + (y + 0.5) ** 2)) + bonus


if __name__ == "__main__":
    params = nni.get_next_parameter()
    nni.report_final_result(objective(params["x"], params["y"], params["activation"]))
