"""NNI's scikit-learn classification example, as its users write it: an SVC on the digits data set."""
import logging

import nni
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

log = logging.getLogger("sklearn_classification")


def load_data():
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(digits.data, digits.target, random_state=99, test_size=0.25)
    scaler = StandardScaler().fit(x_train)
    return scaler.transform(x_train), scaler.transform(x_test), y_train, y_test


def run(params):
    x_train, x_test, y_train, y_test = load_data()
    model = SVC(C=params["C"], kernel=params["kernel"], degree=params["degree"], gamma=params["gamma"],
                coef0=params["coef0"])
    model.fit(x_train, y_train)
    score = model.score(x_test, y_test)
    log.debug("score: %s", score)
    nni.report_final_result(score)


if __name__ == "__main__":
    defaults = {"C": 1.0, "kernel": "linear", "degree": 3, "gamma": 0.01, "coef0": 0.01}
    defaults.update(nni.get_next_parameter() or {})
    run(defaults)
