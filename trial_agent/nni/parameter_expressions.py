"""``nni.parameter_expressions``: draw one value of a search-space type (stdlib only).

``random_state`` is a ``numpy.random.RandomState`` (as in NNI) or a stdlib
``random.Random``; both are accepted.
"""
import math

__all__ = ["choice", "lognormal", "loguniform", "normal", "qlognormal", "qloguniform", "qnormal", "quniform",
           "randint", "uniform"]


def _uniform(low, high, random_state):
    return random_state.uniform(low, high)


def _normal(mu, sigma, random_state):
    if hasattr(random_state, "normal"):
        return random_state.normal(mu, sigma)
    return random_state.normalvariate(mu, sigma)


def choice(options, random_state):
    """One of ``options``."""
    return options[randint(len(options), random_state)]


def randint(lower, upper, random_state=None):
    """An int in [lower, upper); ``randint(n, random_state)`` draws from [0, n)."""
    if random_state is None:
        lower, upper, random_state = 0, lower, upper
    if hasattr(random_state, "normal"):   # numpy: upper exclusive
        return int(random_state.randint(lower, upper))
    return random_state.randint(lower, upper - 1)


def uniform(low, high, random_state):
    """A float in [low, high]."""
    assert high >= low, "Upper bound must be larger than lower bound"
    return _uniform(low, high, random_state)


def quniform(low, high, q, random_state):
    """``clip(round(uniform(low, high) / q) * q, low, high)``."""
    return min(max(round(uniform(low, high, random_state) / q) * q, low), high)


def loguniform(low, high, random_state):
    """``exp(uniform(log low, log high))``."""
    assert low > 0, "Lower bound must be positive"
    return math.exp(uniform(math.log(low), math.log(high), random_state))


def qloguniform(low, high, q, random_state):
    """``clip(round(loguniform(low, high) / q) * q, low, high)``."""
    return min(max(round(loguniform(low, high, random_state) / q) * q, low), high)


def normal(mu, sigma, random_state):
    """A Gaussian draw."""
    return _normal(mu, sigma, random_state)


def qnormal(mu, sigma, q, random_state):
    """``round(normal(mu, sigma) / q) * q``."""
    return round(normal(mu, sigma, random_state) / q) * q


def lognormal(mu, sigma, random_state):
    """``exp(normal(mu, sigma))``."""
    return math.exp(normal(mu, sigma, random_state))


def qlognormal(mu, sigma, q, random_state):
    """``round(lognormal(mu, sigma) / q) * q``."""
    return round(lognormal(mu, sigma, random_state) / q) * q
