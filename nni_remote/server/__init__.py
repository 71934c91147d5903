"""The manager's HTTP side: NNI's REST API, agent routes, the portal."""
from .app import create_app as create_app

__all__ = ["create_app"]
