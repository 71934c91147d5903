"""The manager's HTTP side: NNI's REST API and the portal; the agent routes on their own listener."""
from .agent import create_agent_app as create_agent_app
from .app import create_app as create_app

__all__ = ["create_app", "create_agent_app"]
