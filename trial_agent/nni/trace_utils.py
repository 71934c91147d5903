"""``nni.trace``: NNI records how an object was built; here it only has to keep code running (stdlib only)."""

__all__ = ["trace"]


def trace(cls_or_func=None, *, kw_only=True, inheritable=False):
    """Return the class or function unchanged (usable as ``@nni.trace`` or ``@nni.trace(...)``).

    NNI's version wraps it to remember constructor arguments for NAS and
    serialization; HPO trial code only needs the object itself.
    """
    if cls_or_func is None:
        return lambda target: target
    return cls_or_func
