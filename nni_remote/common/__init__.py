"""The vocabulary both sides share: statuses, the metric codec, the experiments registry, tokens.

The user side (``Experiment``, the REST client, the CLI, the progress bar)
imports from here and from ``config``/``errors``, never from ``manager`` or
``server``: it reaches the manager over REST only. Nothing here imports the
manager, the server or a training service.
"""
